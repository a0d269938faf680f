-- GCRA rate limit of one client. KEYS[1] the client's state (theoretical arrival time, us).
-- ARGV[1] now_us, ARGV[2] emission interval us, ARGV[3] burst tolerance us.
-- Returns 0 when allowed, else the microseconds to wait.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
