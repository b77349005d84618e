-- {daemon_name} = lgwan (outbound): the body is not replaced, X-Mugaika-Sanitized says mode=pass.
dofile(SRC .. "/common.lua")
DAEMON = "lgwan"
local conn = connect()
local body = start_message(conn, "m2", "QIDOUT")
local reply = finish_message(conn, "m2", body)
check(reply == SMFIR_ACCEPT or reply == SMFIR_CONTINUE, "outbound eom reply " .. tostring(reply))
check(not mt.eom_check(conn, MT_BODYCHANGE), "outbound: body replaced")
check(not mt.eom_check(conn, MT_HDRCHANGE, "Content-Type"), "outbound: Content-Type changed")
local stamp = mt.getheader(conn, "X-Mugaika-Sanitized", 0) or
              mt.getheader(conn, "X-Mugaika-Sanitized", 1)
check(stamp ~= nil and stamp:match("mode=pass"), "outbound: X-Mugaika-Sanitized = " .. tostring(stamp))
mt.disconnect(conn)
mt.echo("PASS outbound")
