#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "gateway/quarantine/release.hpp"

namespace mugaika::gateway {

/// Delivers a finished message to one SMTP relay ("host:port") with Poco::Net's
/// SMTPClientSession: EHLO, MAIL FROM, RCPT TO, DATA, the message through its raw-stream
/// sendMessage (which dot-stuffs lines starting with "." and ends the data with CRLF "." CRLF),
/// QUIT. No TLS and no authentication: the relay is a loopback listener of the local Postfix.
/// Thread-compatible: one connection per send() call, no state between calls.
class SmtpSender final : public MailSender {
public:
    /// `timeout` bounds the connection and every reply.
    SmtpSender(std::string relay, std::chrono::milliseconds timeout);

    /// See MailSender::send. Poco's exceptions end here: a 5xx reply is Internal, anything else
    /// (refused connection, timeout, 4xx, closed connection) Transient.
    [[nodiscard]] filters::Result<std::string> send(const std::string& from, const std::string& to,
                                                    std::string_view message) override;

private:
    std::string relay_;
    std::chrono::milliseconds timeout_;
};

} // namespace mugaika::gateway
