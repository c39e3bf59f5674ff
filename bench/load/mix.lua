-- wrk script: the day's mix as an open arrival-rate load (bench/load/wrk_mix.py writes its plan).
--
--   wrk -t2 -c256 -d60s --timeout 10s -s bench/load/mix.lua URL -- PLAN PHASES SEED THREADS
--
-- PLAN: one request a line, "kind \t route \t method \t path \t headers \t body \t provider"
-- (headers "name: value" joined by \31; provider: the Authorization that approves the booking,
-- where it waits for approval); thread n of THREADS takes every n-th line. PHASES: "rate:seconds,..."
-- (arrivals/s of the whole run). Arrivals are Poisson; each connection, when free, takes the next
-- planned arrival and waits for its time (delay()), so while a connection is free the requests
-- leave on schedule, and when none is, latency still counts from the planned time (wrk2's
-- correction of coordinated omission). A request is matched to its answer by the X-Request-ID
-- the server echoes. Follow-ups take the next arrival: a booking confirmed at once is cancelled;
-- one that waits for approval is approved by the provider, then cancelled (or cancelled at once
-- where the plan names no provider). The outcome of each
-- request is written by done() to $YIXIANG_WRK_OUT: "kind \t route \t status \t latency_ms \t
-- planned_s \t retry_after".

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } yixiang_timespec;
int clock_gettime(int clock_id, yixiang_timespec *tp);
]]
local clock = ffi.new("yixiang_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local plan, cursor = {}, 1
local phases, ends = {}, {}
local started, next_at
local due, due_head, due_tail = {}, 1, 0 -- planned times handed out by delay(), oldest first
local follow_ups = {}
local inflight = {}
sent, outcomes = 0, {} -- read by done() through thread:get

local function split(text, separator)
  local parts, from = {}, 1
  while true do
    local at = string.find(text, separator, from, true)
    if not at then
      table.insert(parts, string.sub(text, from))
      return parts
    end
    table.insert(parts, string.sub(text, from, at - 1))
    from = at + #separator
  end
end

function init(args)
  threads_total = tonumber(args[4])
  local index = 0
  for line in io.lines(args[1]) do
    if index % threads_total == id then
      local f = split(line, "\t")
      local headers = {}
      if f[5] ~= "" then
        for _, pair in ipairs(split(f[5], "\31")) do
          local name, value = string.match(pair, "^([^:]+): (.*)$")
          headers[name] = value
        end
      end
      table.insert(plan, {
        kind = f[1], route = f[2], method = f[3], path = f[4], headers = headers, body = f[6], provider = f[7],
      })
    end
    index = index + 1
  end
  local total = 0
  for _, phase in ipairs(split(args[2], ",")) do
    local rate, seconds = string.match(phase, "^([%d.]+):([%d.]+)$")
    total = total + tonumber(seconds)
    table.insert(phases, tonumber(rate) / threads_total)
    table.insert(ends, total)
  end
  math.randomseed(tonumber(args[3]) * 1000 + id)
end

local function rate_at(offset)
  for i, stop in ipairs(ends) do
    if offset < stop then
      return phases[i]
    end
  end
  return phases[#phases]
end

function delay()
  local t = now()
  if not started then
    started, next_at = t, t
  end
  next_at = next_at + -math.log(1 - math.random()) / rate_at(next_at - started)
  due_tail = due_tail + 1
  due[due_tail] = next_at
  local wait = (next_at - t) * 1000
  return wait > 0 and math.floor(wait) or 0
end

local function planned_time()
  if due_head > due_tail then
    return now()
  end
  local t = due[due_head]
  due[due_head] = nil
  due_head = due_head + 1
  return t
end

function request()
  local planned = planned_time()
  local item = table.remove(follow_ups, 1)
  if not item then
    item = plan[cursor]
    cursor = cursor % #plan + 1
  end
  sent = sent + 1
  local request_id = string.format("wrk%d-%08d", id, sent) -- the server echoes 8 to 64 characters
  inflight[request_id] = { item = item, planned = planned }
  item.headers["X-Request-ID"] = request_id
  return wrk.format(item.method, item.path, item.headers, item.body)
end

local function follow_up(item, route, path, authorization, body)
  table.insert(follow_ups, {
    kind = item.kind,
    provider = item.provider,
    route = route,
    method = "POST",
    path = path,
    headers = { ["Authorization"] = authorization, ["Content-Type"] = "application/json" },
    body = body,
  })
end

function response(status, headers, body)
  local request_id = headers["x-request-id"] or headers["X-Request-ID"]
  local entry = request_id and inflight[request_id]
  if not entry then
    return
  end
  inflight[request_id] = nil
  local item = entry.item
  local latency = (now() - entry.planned) * 1000
  local retry = headers["retry-after"] or headers["Retry-After"] or ""
  table.insert(outcomes, table.concat({
    item.kind, item.route, status, string.format("%.3f", latency),
    string.format("%.3f", entry.planned - (started or entry.planned)), retry,
  }, "\t"))
  local researcher = item.researcher or item.headers["Authorization"]
  local ok = status == 200 or status == 201
  if item.route == "booking.create" and ok then
    local booking = string.match(body, '"id":%s*"([%x-]+)"')
    if not booking then
      return
    end
    local path = "/api/v1/bookings/" .. booking
    if item.provider ~= "" and string.match(body, '"status":%s*"requested"') then
      follow_up(item, "booking.approve", path .. "/approve", item.provider, '{"reason":"压测：同意"}')
      follow_ups[#follow_ups].researcher = researcher
    else
      follow_up(item, "booking.cancel", path .. "/cancel", researcher, "{}")
    end
  elseif item.route == "booking.approve" and ok then
    local booking = string.match(item.path, "/api/v1/bookings/([%x-]+)/approve")
    follow_up(item, "booking.cancel", "/api/v1/bookings/" .. booking .. "/cancel", researcher, "{}")
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("YIXIANG_WRK_OUT"), "w"))
  for _, thread in ipairs(threads) do
    for _, line in ipairs(thread:get("outcomes")) do
      out:write(line, "\n")
    end
  end
  local sent_total = 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
  end
  local e = summary.errors
  out:write(string.format("#errors\tconnect=%d\tread=%d\twrite=%d\ttimeout=%d\tstatus=%d\tsent=%d\n",
    e.connect, e.read, e.write, e.timeout, e.status, sent_total))
  out:close()
end
