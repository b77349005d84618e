-- Shared helpers for the miltertest scripts. Globals from the command line (-D):
--   SOCKET  milter socket ("unix:/path" or "inet:PORT@HOST")
--   CASES   directory holding NAME.in (mail as sent, CRLF) and NAME.out (what
--           `mugaika sanitize` makes of it with the same config and the notice disabled)
--   DAEMON  {daemon_name} to send ("internet" or "lgwan"; default "internet")

function readfile(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local s = f:read("a")
  f:close()
  return s
end

-- Split a mail into header list {{name, value}, ...} (unfolded) and body.
function split_mail(raw)
  local i = raw:find("\r\n\r\n", 1, true)
  local head, body
  if i then head, body = raw:sub(1, i + 1), raw:sub(i + 4) else head, body = raw, "" end
  local hdrs = {}
  for line in head:gmatch("(.-)\r\n") do
    if line:match("^[ \t]") and #hdrs > 0 then
      hdrs[#hdrs][2] = hdrs[#hdrs][2] .. "\r\n" .. line
    elseif line ~= "" then
      local n, v = line:match("^([^:]+):[ ]?(.*)$")
      assert(n, "bad header line: " .. line)
      table.insert(hdrs, {n, v})
    end
  end
  return hdrs, body
end

function header_value(hdrs, name)
  for _, h in ipairs(hdrs) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
  return nil
end

function check(cond, what)
  if not cond then error("FAIL: " .. what, 2) end
end

function ok(err, what)
  if err ~= nil then error("FAIL: " .. what .. ": " .. tostring(err), 2) end
end

function connect()
  local conn = mt.connect(SOCKET, 20, 0.25)
  check(conn ~= nil, "mt.connect(" .. SOCKET .. ")")
  mt.set_timeout(60)
  mt.macro(conn, SMFIC_CONNECT, "{daemon_name}", DAEMON or "internet", "j", "mx.e2e.mugaika.test",
           "_", "client.example.jp [127.0.0.1]")
  ok(mt.conninfo(conn, "client.example.jp", "127.0.0.1"), "conninfo")
  check(mt.getreply(conn) == SMFIR_CONTINUE, "conninfo reply")
  if not mt.test_option(conn, SMFIP_NOHELO) then
    local good, err = pcall(mt.helo, conn, "client.example.jp")
    check(good and err == nil, "helo: " .. tostring(err))
  end
  return conn
end

-- Envelope and headers of a message; returns the body still to send.
function start_message(conn, name, qid)
  local hdrs, body = split_mail(readfile(CASES .. "/" .. name .. ".in"))
  mt.macro(conn, SMFIC_MAIL, "i", qid, "{mail_addr}", "sender@example.com")
  ok(mt.mailfrom(conn, "<sender@example.com>"), "mailfrom " .. name)
  ok(mt.rcptto(conn, "<staff@city.example.lg.jp>"), "rcptto " .. name)
  local lead = mt.test_option(conn, SMFIP_HDR_LEADSPC) and " " or ""
  for _, h in ipairs(hdrs) do
    ok(mt.header(conn, h[1], lead .. h[2]), "header " .. h[1])
  end
  ok(mt.eoh(conn), "eoh " .. name)
  return body
end

-- Send BODY in chunks of CHUNK bytes (whole body when nil), then end of message.
function finish_message(conn, name, body, chunk)
  chunk = chunk or #body
  if #body > 0 then
    for i = 1, #body, chunk do
      ok(mt.bodystring(conn, body:sub(i, i + chunk - 1)), "body chunk at " .. i .. " of " .. name)
    end
  end
  ok(mt.eom(conn), "eom " .. name)
  return mt.getreply(conn)
end

-- The milter's end-of-message actions must turn NAME.in into NAME.out: body replaced by exactly
-- the expected bytes, Content-Type and Content-Transfer-Encoding set to the expected values,
-- X-Mugaika-Sanitized added with mode=text and an audit id.
function expect_sanitized(conn, name, reply)
  check(reply == SMFIR_ACCEPT or reply == SMFIR_CONTINUE,
        name .. ": eom reply " .. tostring(reply) .. " (want accept/continue)")
  local ohdrs, obody = split_mail(readfile(CASES .. "/" .. name .. ".out"))
  check(mt.eom_check(conn, MT_BODYCHANGE), name .. ": body not replaced")
  check(mt.eom_check(conn, MT_BODYCHANGE, obody),
        name .. ": replacement body differs from `mugaika sanitize` output:\n" .. obody)
  for _, hn in ipairs({"Content-Type", "Content-Transfer-Encoding"}) do
    local v = header_value(ohdrs, hn)
    local found = false
    for _, op in ipairs({MT_HDRCHANGE, MT_HDRADD, MT_HDRINSERT}) do
      if mt.eom_check(conn, op, hn, v) or mt.eom_check(conn, op, hn, " " .. v) then
        found = true
      end
    end
    check(found, name .. ": " .. hn .. " not set to '" .. v .. "'")
  end
  check(mt.eom_check(conn, MT_HDRADD, "X-Mugaika-Sanitized") or
        mt.eom_check(conn, MT_HDRINSERT, "X-Mugaika-Sanitized"),
        name .. ": X-Mugaika-Sanitized not added")
  local stamp = mt.getheader(conn, "X-Mugaika-Sanitized", 0) or
                mt.getheader(conn, "X-Mugaika-Sanitized", 1)
  check(stamp ~= nil, name .. ": cannot read X-Mugaika-Sanitized")
  check(stamp:match("audit=MG%-[%w%-]+;") and stamp:match("mode=text"),
        name .. ": X-Mugaika-Sanitized = " .. stamp)
  mt.echo("ok " .. name .. ": " .. stamp)
end
