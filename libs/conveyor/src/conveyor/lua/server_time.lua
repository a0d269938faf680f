-- The Redis server's clock in Unix milliseconds: the one clock every replica agrees on.
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
