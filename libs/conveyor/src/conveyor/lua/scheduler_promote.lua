-- Promote due timers: remove them from the index and XADD each task with its PENDING event.
-- Several replicas may run this at once: each timer leaves the index in the step that enqueues it.
-- KEYS[1] timer index (zset), KEYS[2] timer entries (hash), KEYS[3] tasks stream, KEYS[4] events,
-- KEYS[5] tasks stream of priority high, KEYS[6] of priority low (a task's "priority" field
-- picks its stream; none, or "normal", is KEYS[3]).
-- ARGV[1] now (ms), ARGV[2] most timers to promote, ARGV[3] '1': also return trace contexts.
-- Each entry is JSON {"f": [task fields...], "e": [PENDING event fields without at_ms]}.
-- Reply: {promoted count, sum of lateness (ms), max lateness (ms)}, plus with ARGV[3] = '1'
-- a flat list {traceparent, tracestate, ...} of the promoted tasks that carry a traceparent
-- (the scheduler's promotion span links to them).
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return {0, 0, 0} end
local ids = {}
local traces = {}
local want_traces = ARGV[3] == '1'
local late_sum, late_max = 0, 0
local level_streams = {high = KEYS[5], low = KEYS[6]}
-- The optional fields follow the seven fixed ones (envelope.to_fields()).
local function stream_of(fields)
  for i = 15, #fields, 2 do
    if fields[i] == 'priority' then return level_streams[fields[i + 1]] or KEYS[3] end
  end
  return KEYS[3]
end
for k = 1, #due, 2 do
  local id = due[k]
  ids[#ids + 1] = id
  local late = now - tonumber(due[k + 1])
  late_sum = late_sum + late
  if late > late_max then late_max = late end
  local doc = redis.call('HGET', KEYS[2], id)
  if doc then
    local entry = cjson.decode(doc)
    local fields = entry['f']
    redis.call('XADD', stream_of(fields), '*', unpack(fields))
    if want_traces then
      local parent, state = nil, ''
      for i = 1, #fields, 2 do
        if fields[i] == 'traceparent' then parent = fields[i + 1] end
        if fields[i] == 'tracestate' then state = fields[i + 1] end
      end
      if parent and parent ~= '' then
        traces[#traces + 1] = parent
        traces[#traces + 1] = state
      end
    end
    local event = entry['e']
    event[#event + 1] = 'at_ms'
    event[#event + 1] = ARGV[1]
    redis.call('XADD', KEYS[4], '*', unpack(event))
  end
end
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
if want_traces then return {#ids, late_sum, late_max, traces} end
return {#ids, late_sum, late_max}
