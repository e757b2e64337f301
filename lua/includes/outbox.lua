--[[
  outbox — append ledger events to the partition's outbox stream, in the same script (and
  so the same atomic step) as the counter change they record.

  new_outbox(key, id_base, subject, now, context) -> outbox
  emit(outbox, kind, metric, period, delta, value, extra)
    kind    consume | settle | refund | release | expire | reset | grant | grant_revoke | adjust | denied
    period  period start ms as a string ('' for gauges and grants)
    delta   change to the usage counter (0 for grant and denied events)
    value   the counter after the change
    extra   table, JSON-encoded (grant draws, overage, previous value, ...)

  One stream entry per event, with ONE field `e`: the event as a JSON object
    {"id":"<id_base>:<n>","k":kind,"s":subject,"m":metric,"p":period ms or null,
     "d":delta,"v":value,"t":now ms,"x":{extra},"c":{context}}
  (src/ledger/ledger-event.ts decodes it). One field rather than one per member: the
  flusher reads and decodes an entry as a single string, its heaviest per-event cost.

  Event ids are <id_base>:<n>, n counting from 1 within one script call, so they are unique
  as long as the caller's id is. Entries are never trimmed here: only the flusher removes
  entries, after Postgres has committed them.
]]
local function new_outbox(key, id_base, subject, now, context)
  return { key = key, id_base = id_base, subject = cjson.encode(subject), now = fmt_int(now), context = context, seq = 0 }
end

local function emit(ob, kind, metric, period, delta, value, extra)
  ob.seq = ob.seq + 1
  redis.call('XADD', ob.key, '*', 'e', table.concat({
    '{"id":', cjson.encode(ob.id_base .. ':' .. ob.seq),
    ',"k":', cjson.encode(kind),
    ',"s":', ob.subject,
    ',"m":', cjson.encode(metric),
    ',"p":', period == '' and 'null' or period,
    ',"d":', fmt_int(delta),
    ',"v":', fmt_int(value),
    ',"t":', ob.now,
    ',"x":', cjson.encode(extra),
    ',"c":', ob.context,
    '}' }))
end
