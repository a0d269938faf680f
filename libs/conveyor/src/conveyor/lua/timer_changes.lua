-- requires: task_changes
-- Shared by scheduler_control.lua and scheduler_intake.lua (prepended when they are
-- loaded): a pending timer with a PUT's changes applied, so a change that reaches the
-- scheduler before the timer is filed is applied when it is filed, by the same rules.

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

