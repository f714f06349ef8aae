from __future__ import annotations

from django.db import models


class BenchRow(models.Model):
    """The one row the bare insert reference writes per request."""

    note = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Bench row {self.pk}"
