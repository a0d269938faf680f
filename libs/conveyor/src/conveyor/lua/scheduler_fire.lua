-- Fire cron instants exactly once, whatever the number of replicas running this at the same time.
-- KEYS[1] tasks stream, KEYS[2] events stream, KEYS[3] last-fired hash (schedule id -> instant),
-- KEYS[3 + k] the dedup key of the k-th fire of this call (all in the queue's slot).
-- ARGV[1] dedup key lifetime after its instant (ms), ARGV[2] now (ms, the caller's clock: the
-- service passes Redis server time read when it sends), then per schedule:
--   id settle n, then n times: instant due task event
-- where due is the instant plus its jitter, task the task's fields and event the PENDING event's
-- fields (without at_ms), each a JSON array [k1, v1, ...]; settle is the instant up to which the
-- schedule is settled once this runs (a skipped misfire or a disabled schedule settles without
-- firing).
-- A fire happens only if it is due at now (a replica prepares fires ahead and may send them a
-- little early: those, and the schedule's later ones, wait for the next pass), if its instant is
-- after the schedule's last fired instant (so a replica with a stale view, or a clock that jumped
-- back, cannot fire an instant that is settled) AND its dedup key did not exist yet.
-- Reply: {id, instant, ...} of the fires made now.
local ttl, now, now_text = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[2]
local fired = {}
local i, k = 3, 0
while i <= #ARGV do
  local id, settle, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  local stored = tonumber(redis.call('HGET', KEYS[3], id) or '-1')
  local last = stored
  local early = false
  for _ = 1, n do
    k = k + 1
    local instant_text, due, task, event = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local instant = tonumber(instant_text)
    if due > now then early = true end
    if not early and instant > last then
      -- Kept ttl after the instant, and never already expired: a late catch-up keeps its mark.
      local expire_at = math.max(instant + ttl, now + 60000)
      if redis.call('SET', KEYS[3 + k], '1', 'NX', 'PXAT', expire_at) then
        redis.call('XADD', KEYS[1], '*', unpack(cjson.decode(task)))
        local fields = cjson.decode(event)
        fields[#fields + 1] = 'at_ms'
        fields[#fields + 1] = now_text
        redis.call('XADD', KEYS[2], '*', unpack(fields))
        fired[#fired + 1] = id
        fired[#fired + 1] = instant_text
      end
      last = instant
    end
  end
  if not early and settle > last and settle <= now then last = settle end
  if last > stored then redis.call('HSET', KEYS[3], id, string.format('%d', last)) end
end
return fired
