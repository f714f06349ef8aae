-- A plain GET of the URL given to wrk.
dofile("bench/wrk/report.lua")
