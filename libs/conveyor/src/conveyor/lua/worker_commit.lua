-- requires: task_changes workflow_advance
-- Commit many task outcomes of one queue in one atomic step.
-- KEYS[1] tasks stream, KEYS[2] events, KEYS[3] timers-in, KEYS[4] dead letters,
-- KEYS[5] cancelled set, KEYS[6] replaced hash (see worker_control.lua),
-- KEYS[7..] effect marks and effect keys (referenced by index).
-- ARGV[1] group, ARGV[2] mark TTL (ms), ARGV[3] now (ms), ARGV[4] events MAXLEN (~, 0 = none),
-- ARGV[5] a JSON array of the ops' tokens (one argument: cheap to send from Python), then
-- ARGV[6..] the tokens of ops that carry raw bytes (dead letters keep undecodable fields).
-- Ops, as token sequences:
--   S entry task_id rev attempt n fields...
--                                         started event, unless cancelled (then XACK + cancelled)
--                                         or changed (then XACK + the changed task + event)
--   P entry n fields...                   started event only (the worker knew no task was cancelled)
--   A entry n fields...                   XACK + event
--   T entry n timer... n event...         XACK + timer + event
--   D entry n dead... n event...          XACK + dead letter (+ event when n > 0)
--   E entry mark n_fx fx... n_lit lit0 (ref lit)... n event...
--                                         effects + mark + XACK + succeeded event, once per mark
--   W state task_id status result error workflow queue subject partition_key op...
--                                         a workflow step's outcome: the op (any of the above),
--                                         then the step recorded in its workflow's state hash
--                                         (KEYS[state]) and what follows it enqueued, once
--                                         (workflow_advance.lua); result '' = the E op's result
-- Reply: one element per op (JSON ops first, then the others): 0/1/2 for S (1 = cancelled,
-- 2 = skipped for a newer revision of the task), a string for E
-- ('n' .. result when committed now, 'd' .. result when the mark existed, 'f' .. error), else 0;
-- then one last element: the size of the cancelled set, so workers know when it is empty.
local group, ttl, now, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local src, i = cjson.decode(ARGV[5]), 1
local out = {}
-- Acks and the events trim are done once per call (one XACK of many ids, one XTRIM):
-- per-task XACKs and per-XADD trims cost the server more than the events themselves.
-- The call is atomic, so nobody sees the events before the acks.
local acks = {}

local function take_list()
  local n = tonumber(src[i]); i = i + 1
  local list = {}
  for j = 1, n do list[j] = src[i + j - 1] end
  i = i + n
  return list
end

local function ack(entry)
  if entry ~= '' then acks[#acks + 1] = entry end
end

local function add(stream, fields)
  if #fields > 0 then redis.call('XADD', stream, '*', unpack(fields)) end
end

local events_added = false
local function add_event(fields)
  if #fields == 0 then return end
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  events_added = true
end

local function integer_or_absent(v)
  return (not v) or string.match(v, '^%-?%d+$') ~= nil
end

local function check_effect(op, key, args)
  local t = redis.call('TYPE', key)['ok']
  if op == 'incrby' then
    if t ~= 'none' and t ~= 'string' then return 'incrby on a ' .. t end
    if t == 'string' and not integer_or_absent(redis.call('GET', key)) then
      return 'incrby on a value that is not an integer'
    end
  elseif op == 'hincrby' or op == 'hset' or op == 'hget' then
    if t ~= 'none' and t ~= 'hash' then return op .. ' on a ' .. t end
    if op == 'hincrby' and not integer_or_absent(redis.call('HGET', key, args[1])) then
      return 'hincrby on a field that is not an integer'
    end
  elseif op == 'get' and t ~= 'none' and t ~= 'string' then
    return 'get on a ' .. t
  end
  return nil
end

local function apply_effect(op, key, args)
  if op == 'incrby' then return redis.call('INCRBY', key, args[1])
  elseif op == 'hincrby' then return redis.call('HINCRBY', key, args[1], args[2])
  elseif op == 'set' then
    if args[2] then redis.call('SET', key, args[1], 'PX', args[2]) else redis.call('SET', key, args[1]) end
  elseif op == 'hset' then redis.call('HSET', key, args[1], args[2])
  elseif op == 'get' then return redis.call('GET', key)
  elseif op == 'hget' then return redis.call('HGET', key, args[1])
  elseif op == 'del' then redis.call('DEL', key)
  end
  return false
end

local function encode_value(v)
  if type(v) == 'number' then return string.format('%d', v) end
  if not v then return 'null' end
  return cjson.encode(v)
end

local function read_effects()
  local n = tonumber(src[i]); i = i + 1
  local fx = {}
  for j = 1, n do
    local op, key = src[i], KEYS[tonumber(src[i + 1])]
    i = i + 2
    fx[j] = {op, key, take_list()}
  end
  return fx
end

local function read_template()
  local n = tonumber(src[i]); i = i + 1
  local lits, refs = {src[i]}, {}
  i = i + 1
  for j = 2, n do
    refs[j - 1] = tonumber(src[i]) + 1
    lits[j] = src[i + 1]
    i = i + 2
  end
  return lits, refs
end

local function commit_effects(entry)
  local mark = KEYS[tonumber(src[i])]; i = i + 1
  local fx = read_effects()
  local lits, refs = read_template()
  local ev = take_list()
  local stored = redis.call('GET', mark)
  if stored then
    ack(entry)
    return 'd' .. stored
  end
  for _, e in ipairs(fx) do
    local problem = check_effect(e[1], e[2], e[3])
    if problem then return 'f' .. problem end
  end
  local values = {}
  for j, e in ipairs(fx) do values[j] = apply_effect(e[1], e[2], e[3]) end
  local parts = {lits[1]}
  for j, ref in ipairs(refs) do
    parts[#parts + 1] = encode_value(values[ref])
    parts[#parts + 1] = lits[j + 1]
  end
  local result = table.concat(parts)
  redis.call('SET', mark, result, 'PX', ttl)
  ack(entry)
  ev[#ev + 1] = 'result'
  ev[#ev + 1] = result
  add_event(ev)
  return 'n' .. result
end

-- The task that replaces an entry: the entry's fields (read back from the stream) with
-- the changes applied and the new revision; nil when the entry is gone from the stream.
local NOT_KEPT = {due_ms = true, timer_kind = true}
local function changed_fields(entry, rev, changes)
  local rows = redis.call('XRANGE', KEYS[1], entry, entry)
  if #rows == 0 then return nil end
  return with_changes(rows[1][2], changes, CHANGEABLE, NOT_KEPT, rev)
end

-- The start event turned into the changed task's event: 'updated', or 'scheduled' with
-- its due time when the change delays it; the revision is the new one.
local function changed_event(ev, rev, due)
  local out = {}
  for j = 1, #ev - 1, 2 do
    local name, value = ev[j], ev[j + 1]
    if name == 'event' then value = due and 'scheduled' or 'updated' end
    if name ~= 'revision' then out[#out + 1] = name; out[#out + 1] = value end
  end
  out[#out + 1] = 'revision'; out[#out + 1] = rev
  if due then out[#out + 1] = 'due_ms'; out[#out + 1] = due end
  return out
end

-- Skip an entry of an older revision: XACK it and, unless an earlier start already did,
-- enqueue the changed task (a timer when it is delayed). The replaced hash then keeps
-- only the revision, so a redelivered old entry is skipped without a second copy.
local function replace(entry, task_id, rev, changes, ev)
  if changes == '' then
    ack(entry)
    return 2
  end
  local c = cjson.decode(changes)
  local fields = changed_fields(entry, rev, c)
  if not fields then
    add_event(ev)
    return 0
  end
  local due = c['due_ms']
  if due == '' then due = nil end
  if due then
    fields[#fields + 1] = 'due_ms'; fields[#fields + 1] = due
    fields[#fields + 1] = 'timer_kind'; fields[#fields + 1] = 'delayed'
  end
  redis.call('XADD', due and KEYS[3] or KEYS[1], '*', unpack(fields))
  redis.call('HSET', KEYS[6], task_id, rev)
  ack(entry)
  add_event(changed_event(ev, rev, due))
  return 2
end

local function start(entry)
  local task_id, rev, attempt = src[i], tonumber(src[i + 1]), src[i + 2]
  i = i + 3
  local ev = take_list()
  local until_ms = redis.call('ZSCORE', KEYS[5], task_id)
  if not until_ms or tonumber(until_ms) < now then
    add_event(ev)
    return 0
  end
  local change = redis.call('HGET', KEYS[6], task_id)
  if not change then
    for j = 1, #ev - 1, 2 do
      if ev[j] == 'event' then ev[j + 1] = 'cancelled' end
    end
    ack(entry)
    add_event(ev)
    return 1
  end
  local mark_rev, changes = string.match(change, '^(%d+) ?(.*)$')
  -- Only a first attempt is replaced: a retry means the task had started, too late.
  if attempt ~= '1' or tonumber(mark_rev) <= rev then
    -- The changes will never apply here: keep only the revision (they can be large).
    if changes ~= '' then redis.call('HSET', KEYS[6], task_id, mark_rev) end
    add_event(ev)
    return 0
  end
  return replace(entry, task_id, mark_rev, changes, ev)
end

local workflow_op  -- a W op runs its inner op through run_op

local function run_op()
  local kind, entry = src[i], src[i + 1]
  i = i + 2
  if kind == 'S' then
    out[#out + 1] = start(entry)
  elseif kind == 'P' then
    add_event(take_list()); out[#out + 1] = 0
  elseif kind == 'A' then
    ack(entry); add_event(take_list()); out[#out + 1] = 0
  elseif kind == 'T' then
    ack(entry); add(KEYS[3], take_list()); add_event(take_list()); out[#out + 1] = 0
  elseif kind == 'D' then
    ack(entry); add(KEYS[4], take_list()); add_event(take_list()); out[#out + 1] = 0
  elseif kind == 'E' then
    out[#out + 1] = commit_effects(entry)
  elseif kind == 'W' then
    workflow_op(KEYS[tonumber(entry)])
  else
    error('unknown op ' .. tostring(kind))
  end
end

workflow_op = function(state)
  local task_id, status, result, err, wf = src[i], src[i + 1], src[i + 2], src[i + 3], src[i + 4]
  local base = {queue = src[i + 5], subject = src[i + 6], partition_key = src[i + 7]}
  i = i + 8
  run_op()  -- its reply is the W op's reply
  local reply = out[#out]
  if type(reply) == 'string' then  -- an effect commit: advance only when it committed now
    if string.sub(reply, 1, 1) ~= 'n' then return end
    result = string.sub(reply, 2)
  end
  local ev = wf_step(state, task_id, status, result, err, wf, base, ARGV[3], ttl, KEYS[1])
  if ev then add_event(ev) end
end

while i <= #src do run_op() end
-- The ops whose tokens are raw bytes came as plain arguments.
src, i = ARGV, 6
while i <= #src do run_op() end
if #acks > 0 then redis.call('XACK', KEYS[1], group, unpack(acks)) end
if events_added and maxlen ~= '0' then redis.call('XTRIM', KEYS[2], 'MAXLEN', '~', maxlen) end
out[#out + 1] = redis.call('ZCARD', KEYS[5])
return out
