-- Cancel workflow steps that are not enqueued yet (conveyor/producing/flows.py): one cancel
-- message per step on the control stream, all or none.
-- KEYS[1] control stream. ARGV: per step, n then n field/value tokens (control.cancel_fields).
-- Reply: the number of messages added.
local i, added = 1, 0
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local fields = {}
  for j = 1, n do fields[j] = ARGV[i + j] end
  redis.call('XADD', KEYS[1], '*', unpack(fields))
  added = added + 1
  i = i + n + 1
end
return added
