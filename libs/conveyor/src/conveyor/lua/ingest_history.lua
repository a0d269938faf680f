-- Take or renew the history lease and, while holding it, store one sample per queue.
-- KEYS[1] the lease, KEYS[1 + i] queue i's series (sorted set: score = minute, ms).
-- ARGV[1] this process's name, ARGV[2] lease length (ms), ARGV[3] the sample's minute (ms),
-- ARGV[4] oldest minute kept (ms), ARGV[5] series expiry (ms), ARGV[5 + i] queue i's
-- sample (JSON text; unique per call, it holds the sample's time).
-- A call without samples only takes or renews the lease. The lease is judged and the samples
-- written in this one step, so a process that lost the lease meanwhile writes nothing.
-- Each minute keeps one sample (the last one taken in it) and the series keeps the minutes
-- from ARGV[4] on, so it holds about an hour whatever the sampling interval.
-- Reply: 1 if this process holds the lease (and wrote its samples), else 0.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local minute, oldest = ARGV[3], ARGV[4]
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], minute, minute)
  redis.call('ZADD', KEYS[i], minute, ARGV[4 + i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. oldest)
  redis.call('PEXPIRE', KEYS[i], ARGV[5])
end
return 1
