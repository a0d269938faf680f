-- Take or renew the fire lease: the replica holding it fires instants on time, the others only
-- those the holder left overdue (so they take over when it dies). Correctness never depends on it.
-- KEYS[1] lease key. ARGV[1] this replica's name, ARGV[2] now (ms, the scheduling clock),
-- ARGV[3] lease length (ms). The value is "<holder>|<expires_ms>": expiry is judged on the
-- scheduling clock every replica shares (Redis server time), not on key TTLs.
-- Reply: 1 if this replica holds the lease now, else 0.
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local value = redis.call('GET', KEYS[1])
if value then
  local sep = string.find(value, '|', 1, true)
  if sep then
    local holder, expires = string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1))
    if holder ~= ARGV[1] and expires and expires > now then return 0 end
  end
end
-- The key's own expiry only cleans up after every replica is gone.
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. string.format('%d', now + ttl), 'PX', math.max(60000, 10 * ttl))
return 1
