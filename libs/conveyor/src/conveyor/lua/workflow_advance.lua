-- Shared by worker_commit.lua: what a workflow step's commit adds (conveyor/workflows.py,
-- docs/workflows.md). A step is recorded once in its workflow's state hash (HSETNX
-- s:<task id>: a second commit of the same step, by a stale worker, changes nothing), and
-- what runs next is XADDed in the same script as the step's XACK: the next step of a chain,
-- or a chord's callback when its last member finished.
-- State hash fields: s:<task id> = status of each finished step, m:<i> / v:<i> = status and
-- result (or error) of group member i, finished / failed = member counts, stopped_by = the
-- chain step that ended its chain.

-- A later step's payload: the input alone, or {"input": <input>, ...the step's payload}.
local function wf_input(input, data)
  if data == nil then return input end
  if data == '{}' then return '{"input":' .. input .. '}' end
  return '{"input":' .. input .. ',' .. string.sub(data, 2)
end

-- XADD ``step`` of workflow ``wf_id`` to ``stream`` with its input and the steps after it
-- (``rest``); returns the fields of its pending event.
local function wf_enqueue(stream, step, input, rest, wf_id, base, now)
  local field = {id = wf_id}
  if rest and #rest > 0 then field['then'] = rest end
  local f = {'v', '1', 'id', step.id, 'type', step.type, 'queue', base.queue,
    'datacontenttype', 'application/json', 'data', wf_input(input, step.data), 'attempt', '1'}
  if step.max_attempts then f[#f + 1] = 'max_attempts'; f[#f + 1] = step.max_attempts end
  if step.timeout then f[#f + 1] = 'timeout'; f[#f + 1] = step.timeout end
  if base.subject ~= '' then f[#f + 1] = 'subject'; f[#f + 1] = base.subject end
  f[#f + 1] = 'origin'; f[#f + 1] = 'workflow'
  if base.partition_key ~= '' then f[#f + 1] = 'partition_key'; f[#f + 1] = base.partition_key end
  f[#f + 1] = 'workflow'; f[#f + 1] = cjson.encode(field)
  redis.call('XADD', stream, '*', unpack(f))
  local ev = {'v', '1', 'event', 'pending', 'task_id', step.id, 'type', step.type,
    'queue', base.queue, 'attempt', '1', 'at_ms', now}
  if base.subject ~= '' then ev[#ev + 1] = 'subject'; ev[#ev + 1] = base.subject end
  ev[#ev + 1] = 'origin'; ev[#ev + 1] = 'workflow'
  return ev
end

local function wf_chain(key, wf, task_id, status, result, stream, base, now)
  if status ~= 'succeeded' then
    redis.call('HSET', key, 'stopped_by', task_id)
    return nil
  end
  local steps = wf['then']
  if not steps or #steps == 0 then return nil end
  local rest = {}
  for j = 2, #steps do rest[j - 1] = steps[j] end
  return wf_enqueue(stream, steps[1], result, rest, wf.id, base, now)
end

-- The members' results in member order: as they are (policy stop), or with their status.
local function wf_results(key, wf)
  local parts = {}
  for j = 0, wf.size - 1 do
    local got = redis.call('HMGET', key, 'm:' .. j, 'v:' .. j)
    local status, value = got[1], got[2]
    if wf.policy == 'stop' then
      parts[j + 1] = value
    elseif status == 'succeeded' then
      parts[j + 1] = '{"status":"succeeded","result":' .. value .. '}'
    else
      parts[j + 1] = '{"status":' .. cjson.encode(status) .. ',"error":' .. cjson.encode(value) .. '}'
    end
  end
  return '[' .. table.concat(parts, ',') .. ']'
end

local function wf_member(key, wf, status, result, err, stream, base, now)
  local m = string.format('%d', wf.member)
  redis.call('HSET', key, 'm:' .. m, status, 'v:' .. m, status == 'succeeded' and result or err)
  if status ~= 'succeeded' then redis.call('HINCRBY', key, 'failed', 1) end
  local finished = redis.call('HINCRBY', key, 'finished', 1)
  if finished < wf.size or not wf.callback then return nil end
  if wf.policy == 'stop' and tonumber(redis.call('HGET', key, 'failed') or '0') > 0 then
    return nil
  end
  local callback = wf.callback
  return wf_enqueue(stream, callback, wf_results(key, wf), callback['then'], wf.id, base, now)
end

-- Record a finished step once and enqueue what follows it; returns the pending event of
-- the enqueued step, or nil.
local function wf_step(key, task_id, status, result, err, wf_text, base, now, ttl, stream)
  if redis.call('HSETNX', key, 's:' .. task_id, status) == 0 then return nil end
  local wf = cjson.decode(wf_text)
  local ev
  if wf.member then
    ev = wf_member(key, wf, status, result, err, stream, base, now)
  else
    ev = wf_chain(key, wf, task_id, status, result, stream, base, now)
  end
  redis.call('PEXPIRE', key, ttl)
  return ev
end
