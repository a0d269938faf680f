-- Fire instants of one schedule exactly once, whatever the number of replicas running this.
-- KEYS[1] tasks stream, KEYS[2] events stream, KEYS[3] last-fired hash, KEYS[3 + k] the k-th
-- fire's dedup key. ARGV[1] schedule id, ARGV[2] settle (ms: the schedule is settled up to here
-- once this runs), ARGV[3] dedup key lifetime after its instant (ms), ARGV[4] now (ms), then per
-- fire: instant n task... n event... (event fields without at_ms).
-- A fire happens only if its instant is after the schedule's last fired instant (so a replica with
-- a stale view, or a clock that jumped back, cannot fire an instant another replica settled) AND
-- its dedup key did not exist. Reply: the instants fired now.
local id, settle, ttl, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local last = tonumber(redis.call('HGET', KEYS[3], id) or '-1')
local fired = {}
local i = 5

local function take_list()
  local n = tonumber(ARGV[i]); i = i + 1
  local list = {}
  for j = 1, n do list[j] = ARGV[i + j - 1] end
  i = i + n
  return list
end

local stored = last
local k = 0
while i <= #ARGV do
  k = k + 1
  local instant_text = ARGV[i]; i = i + 1
  local instant = tonumber(instant_text)
  local task = take_list()
  local event = take_list()
  if instant > last then
    -- Expire a day (ttl) after the instant, but never in the past: a late catch-up keeps its mark.
    local expire_at = math.max(instant + ttl, now + 60000)
    if redis.call('SET', KEYS[3 + k], '1', 'NX', 'PXAT', expire_at) then
      redis.call('XADD', KEYS[1], '*', unpack(task))
      event[#event + 1] = 'at_ms'
      event[#event + 1] = ARGV[4]
      redis.call('XADD', KEYS[2], '*', unpack(event))
      fired[#fired + 1] = instant_text
    end
    last = instant
  end
end
if settle > last then last = settle end
if last > stored then redis.call('HSET', KEYS[3], id, string.format('%d', last)) end
return fired
