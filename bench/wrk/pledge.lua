-- Pledges through the real form, as a browser sends them.
--
-- wrk shares one Lua state between the connections of a thread, so the
-- harness runs one connection per thread (-t N -c N): requests and responses
-- then alternate strictly and this thread's state is its one connection's.
--
-- Arguments: form path, run id, mode.
--   journey: every pledge is a GET of the form (CSRF cookie and token, the
--            form's own submission_token) then its POST, as a person does.
--   post:    the form is fetched once per connection for the CSRF cookie and
--            token; each POST carries a fresh submission_token made here (a
--            UUID, as the form's is), so the figures are POSTs alone.
dofile("bench/wrk/report.lua")

counted = { "posts_ok", "posts_refused", "form_gets" }
posts_ok, posts_refused, form_gets = 0, 0, 0

local path, run_id, mode
local cookie, csrf, submission = nil, nil, nil
local sent = 0
local waiting_for = "get"
local sectors = { "nhs", "social-care", "housing", "patient-carer" }
local regions = { "london", "midlands", "north-west", "south-east", "wales", "scotland" }

function init(args)
  path, run_id, mode = args[1], args[2], args[3] or "journey"
  math.randomseed(os.time() * 1000 + (id or 0))
end

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x",
    math.random(0, 0x7fffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    0x8000 + math.random(0, 0x3fff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end

local function form_body()
  sent = sent + 1
  local first = sectors[(sent % 4) + 1]
  local second = sectors[((sent + 1) % 4) + 1]
  local parts = {
    "csrfmiddlewaretoken=" .. csrf,
    "submission_token=" .. (mode == "journey" and submission or uuid4()),
    "text=I+will+learn+the+name+of+every+patient+on+ward+" .. id .. "+number+" .. sent,
    "sectors=" .. first,
    "kind=personal",
    "display_name=Bench+" .. id,
    "role=Staff+nurse",
    "organisation=Northfield+General+Hospital",
    "region=" .. regions[(sent % #regions) + 1],
    "email=wrk-" .. run_id .. "-" .. id .. "-" .. sent .. "%40example.invalid",
    "consent_to_publish=on",
  }
  -- Every third pledge joins two sectors (an "integration" pledge), as tags do.
  if sent % 3 == 0 then table.insert(parts, "sectors=" .. second) end
  return table.concat(parts, "&")
end

function request()
  if waiting_for == "get" or csrf == nil then
    waiting_for = "get"
    return wrk.format("GET", path, cookie and { ["Cookie"] = "csrftoken=" .. cookie } or nil)
  end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. cookie,
  }, form_body())
end

function response(status, headers, body)
  if waiting_for == "get" then
    form_gets = form_gets + 1
    local set_cookie = headers["Set-Cookie"] or ""
    cookie = string.match(set_cookie, "csrftoken=([^;]+)") or cookie
    csrf = string.match(body, 'name="csrfmiddlewaretoken" value="([^"]+)"')
    submission = string.match(body, 'name="submission_token" value="([^"]+)"')
    if cookie and csrf and submission then waiting_for = "post" end
    return
  end
  if status == 302 then posts_ok = posts_ok + 1 else posts_refused = posts_refused + 1 end
  if mode == "journey" then waiting_for = "get" end
end
