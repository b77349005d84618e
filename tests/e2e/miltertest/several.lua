-- Several messages on one milter connection: each gets its own, correct replacement.
dofile(SRC .. "/common.lua")
local conn = connect()
for i, name in ipairs({"m1", "m2", "m3"}) do
  local body = start_message(conn, name, "QID" .. i)
  expect_sanitized(conn, name, finish_message(conn, name, body))
end
mt.disconnect(conn)
mt.echo("PASS several")
