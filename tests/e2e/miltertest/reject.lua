-- A mail that the reject rule matches gets an SMFIR_REPLYCODE answer and no body change; the connection
-- then carries a normal message.
dofile(SRC .. "/common.lua")
local conn = connect()
local body = start_message(conn, "exe", "QIDEXE")
local reply = finish_message(conn, "exe", body)
check(reply == SMFIR_REPLYCODE, "exe: eom reply " .. tostring(reply) .. " (want replycode)")
-- The reply text (550 5.7.1 ... audit MG-...) is checked through Postfix in test_reject_rule.py:
-- miltertest 1.0 does not record an SMFIR_REPLYCODE reply for MT_SMTPREPLY (eom_check returns
-- false for any code) and exits silently when MT_SMTPREPLY is given without parameters.
check(not mt.eom_check(conn, MT_BODYCHANGE), "exe: body replaced on a rejected mail")
local body1 = start_message(conn, "m1", "QIDAFTEREXE")
expect_sanitized(conn, "m1", finish_message(conn, "m1", body1))
mt.disconnect(conn)
mt.echo("PASS reject")
