-- requires: task_changes
-- Shared by scheduler_control.lua and scheduler_intake.lua (prepended when they are
-- loaded): a pending timer with a PUT's changes applied, so a change that reaches the
-- scheduler before the timer is filed is applied when it is filed, by the same rules,
-- from the scheduler's record of it (below).

-- The value of ``name`` in the flat field list ``fields``, or ``default``.
local function field(fields, name, default)
  for j = 1, #fields - 1, 2 do
    if fields[j] == name then return fields[j + 1] end
  end
  return default
end

-- The decoded timer entry ({f = task fields, e = pending event}) with ``changes`` (a
-- decoded PUT: CHANGEABLE fields and due_ms, '' removes) of revision ``rev`` applied,
-- and the new due time (nil: unchanged; due_ms '' is due at ``at``). nil when they do
-- not apply: a retry's timer (the task had started, as the workers decide too) or a
-- timer already at ``rev`` or newer.
local function changed_timer(entry, rev, changes, at)
  local f = entry['f']
  if field(f, 'attempt', '1') ~= '1' or tonumber(field(f, 'revision', '0')) >= tonumber(rev) then
    return nil
  end
  entry['f'] = with_changes(f, changes, CHANGEABLE, {}, rev)
  entry['e'] = with_changes(entry['e'], {}, {}, {}, rev)
  local due = changes['due_ms']
  if due == '' then due = at end
  return entry, due
end


-- The scheduler's record of a PUT that found no timer (its timer not filed yet: an intake
-- backlog, or another replica holding the entry): ``records`` hash task id -> '<revision>
-- <at ms> <changes JSON>', ``expiry`` zset task id -> the replace's until_ms. Only the
-- newest revision is kept; intake applies it when it files the task's timer and deletes it.
local RECORDS_PRUNED_PER_CALL = 100

-- Record the change unless a record of the same or a newer revision is there.
local function record_change(records, expiry, id, rev, at, text, until_ms)
  local current = redis.call('HGET', records, id)
  if current and tonumber(string.match(current, '^%d+')) >= tonumber(rev) then return end
  redis.call('HSET', records, id, rev .. ' ' .. at .. ' ' .. text)
  redis.call('ZADD', expiry, until_ms, id)
end

local function forget_change(records, expiry, id)
  redis.call('HDEL', records, id)
  redis.call('ZREM', expiry, id)
end

-- Drop up to RECORDS_PRUNED_PER_CALL records whose expiry is before ``now``.
local function prune_changes(records, expiry, now)
  local old = redis.call('ZRANGEBYSCORE', expiry, '-inf', '(' .. now, 'LIMIT', 0,
                         RECORDS_PRUNED_PER_CALL)
  if #old > 0 then
    redis.call('HDEL', records, unpack(old))
    redis.call('ZREM', expiry, unpack(old))
  end
end

-- The live record of task ``id``: revision, at and changes JSON (nil if none). The record
-- is deleted either way: the timer being filed is the one it was kept for.
local function take_change(records, expiry, id, now)
  local current = redis.call('HGET', records, id)
  if not current then return nil end
  local until_ms = tonumber(redis.call('ZSCORE', expiry, id))
  forget_change(records, expiry, id)
  if not until_ms or until_ms < tonumber(now) then return nil end
  return string.match(current, '^(%d+) (%d+) (.+)$')
end
