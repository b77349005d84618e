-- A mail that the reject rule matches gets a 550 5.7.1 reply with its audit id; the connection
-- then carries a normal message.
dofile(SRC .. "/common.lua")
local conn = connect()
local body = start_message(conn, "exe", "QIDEXE")
local reply = finish_message(conn, "exe", body)
check(reply == SMFIR_REPLYCODE, "exe: eom reply " .. tostring(reply) .. " (want replycode)")
check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1"), "exe: no 550 5.7.1 reply")
check(not mt.eom_check(conn, MT_BODYCHANGE), "exe: body replaced on a rejected mail")
local body1 = start_message(conn, "m1", "QIDAFTEREXE")
expect_sanitized(conn, "m1", finish_message(conn, "m1", body1))
mt.disconnect(conn)
mt.echo("PASS reject")
