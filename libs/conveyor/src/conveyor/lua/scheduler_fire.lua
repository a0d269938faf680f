-- Fire cron instants exactly once, whatever the number of replicas running this at the same time.
-- KEYS[1] tasks stream, KEYS[2] events stream, KEYS[3] last-fired hash (schedule id -> instant),
-- KEYS[3 + k] the dedup key of the k-th fire of this call (all in the queue's slot).
-- ARGV[1] dedup key lifetime after its instant (ms), ARGV[2] now (ms, the caller's clock: the
-- service passes Redis server time read when it sends), ARGV[3] the time the fires were planned
-- for (ms, same clock), ARGV[4] the misfire threshold (ms), then per schedule:
--   id settle n, then n times: instant due nt <nt task field tokens> ne <ne event field tokens>
-- where due is the instant plus its jitter, the task tokens are the task's fields and the event
-- tokens the PENDING event's fields without at_ms (which this script puts first), each flat
-- [k1, v1, ...]; settle is the instant up to which the schedule is settled once this runs (a
-- skipped misfire or a disabled schedule settles without firing).
-- The fields go to XADD straight from ARGV (unpack of a range): no JSON decoding and no table per
-- fire, since 1,000 fires at one instant are Redis work the last of them waits for.
-- A fire happens only if it is due at now (a replica prepares fires ahead and may send them a
-- little early: those, and the schedule's later ones, wait for the next pass), if its instant is
-- after the schedule's last fired instant (so a replica with a stale view, or a clock that jumped
-- back, cannot fire an instant that is settled) AND its dedup key did not exist yet.
-- A plan older than the misfire threshold is stale (fires prepared ahead of their instant and
-- sent after the clock jumped, or after a long stall): nothing fires and nothing settles, so the
-- next pass plans again at the new time and the misfire policy decides about those instants.
-- Reply: {id, instant, ...} of the fires made now.
local ttl, now, now_text = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[2]
if now - tonumber(ARGV[3]) > tonumber(ARGV[4]) then return {} end
local fired, advanced = {}, {}
local i, k, nargs = 5, 0, #ARGV
while i <= nargs do
  local id, settle, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  local stored = tonumber(redis.call('HGET', KEYS[3], id) or '-1')
  local last = stored
  local early = false
  for _ = 1, n do
    k = k + 1
    local instant_text, due = ARGV[i], tonumber(ARGV[i + 1])
    local task_at = i + 3
    local event_at = task_at + tonumber(ARGV[i + 2])
    i = event_at + 1 + tonumber(ARGV[event_at])
    local instant = tonumber(instant_text)
    if due > now then early = true end
    if not early and instant > last then
      -- Kept ttl after the instant, and never already expired: a late catch-up keeps its mark.
      local expire_at = math.max(instant + ttl, now + 60000)
      if redis.call('SET', KEYS[3 + k], '1', 'NX', 'PXAT', expire_at) then
        redis.call('XADD', KEYS[1], '*', unpack(ARGV, task_at, event_at - 1))
        redis.call('XADD', KEYS[2], '*', 'at_ms', now_text, unpack(ARGV, event_at + 1, i - 1))
        fired[#fired + 1] = id
        fired[#fired + 1] = instant_text
      end
      last = instant
    end
  end
  if not early and settle > last and settle <= now then last = settle end
  if last > stored then
    advanced[#advanced + 1] = id
    advanced[#advanced + 1] = string.format('%d', last)
  end
end
-- One HSET for the call: each schedule appears once per call, so no HGET above reads a value
-- this call has yet to write.
if #advanced > 0 then redis.call('HSET', KEYS[3], unpack(advanced)) end
return fired
