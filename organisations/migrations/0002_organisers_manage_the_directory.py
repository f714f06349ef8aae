from django.db import migrations

# What organisers may do with the directory (campaigns.services.ORGANISER_PERMISSIONS).
PERMISSIONS = {
    "organisation": ("add", "change", "delete", "view"),
    "organisationdomain": ("add", "change", "delete", "view"),
    "organisationcampaign": ("add", "change", "delete", "view"),
    "organisationsuggestion": ("change", "view"),
}
NAMES = {
    "organisation": "organisation",
    "organisationdomain": "organisation domain",
    "organisationcampaign": "organisation campaign",
    "organisationsuggestion": "organisation suggestion",
}


def grant_organisers(apps, schema_editor):
    """Granted here to a group that exists already; a new one gets them from
    organiser_group_ensure. Django makes the permissions after migrating, so they are
    made here the same way it would (it finds these then)."""
    group = apps.get_model("auth", "Group").objects.filter(name="Organisers").first()
    if group is None:
        return
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for model, verbs in PERMISSIONS.items():
        content_type, _ = ContentType.objects.get_or_create(app_label="organisations", model=model)
        for verb in verbs:
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type,
                codename=f"{verb}_{model}",
                defaults={"name": f"Can {verb} {NAMES[model]}"},
            )
            group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(grant_organisers, migrations.RunPython.noop),
    ]
