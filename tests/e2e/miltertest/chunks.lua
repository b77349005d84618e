-- A body sent in 1-byte chunks gives the same result as in one chunk.
dofile(SRC .. "/common.lua")
local conn = connect()
local body = start_message(conn, "m2", "QIDCHUNK1")
expect_sanitized(conn, "m2", finish_message(conn, "m2", body, 1))
body = start_message(conn, "m1", "QIDCHUNK7")
expect_sanitized(conn, "m1", finish_message(conn, "m1", body, 7))
mt.disconnect(conn)
mt.echo("PASS chunks")
