-- A message aborted in the middle of its body, then a new message on the same connection:
-- the new one is sanitized on its own (nothing of the aborted body leaks into it).
dofile(SRC .. "/common.lua")
local conn = connect()
local body = start_message(conn, "m2", "QIDABORT")
ok(mt.bodystring(conn, body:sub(1, math.floor(#body / 2))), "half body")
ok(mt.abort(conn), "abort")
local body1 = start_message(conn, "m1", "QIDAFTER")
expect_sanitized(conn, "m1", finish_message(conn, "m1", body1))
-- abort right after the headers, then once more a full message
start_message(conn, "m3", "QIDABORT2")
ok(mt.abort(conn), "abort after eoh")
local body3 = start_message(conn, "m3", "QIDAFTER2")
expect_sanitized(conn, "m3", finish_message(conn, "m3", body3))
mt.disconnect(conn)
mt.echo("PASS abort")
