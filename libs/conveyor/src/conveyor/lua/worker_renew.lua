-- Renew the lease of entries this consumer still owns: XCLAIM (JUSTID, min-idle 0) only
-- the ids XPENDING still shows as ours, so a stale worker never takes an entry back
-- from the consumer that claimed it meanwhile. JUSTID leaves the delivery counter alone.
-- KEYS[1] tasks stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
-- Reply: the ids still owned (and renewed).
local owned = {}
for j = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[j], ARGV[j], 1, ARGV[2])
  if p[1] then owned[#owned + 1] = ARGV[j] end
end
if #owned > 0 then
  owned[#owned + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(owned))
  owned[#owned] = nil
end
return owned
