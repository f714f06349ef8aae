-- The bare insert reference: one POST, one row.
dofile("bench/wrk/report.lua")

wrk.method = "POST"
wrk.body = "note=wrk"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
