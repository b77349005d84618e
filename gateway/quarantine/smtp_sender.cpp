#include "gateway/quarantine/smtp_sender.hpp"

#include <unistd.h>

#include <sstream>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SMTPClientSession.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf;
}

} // namespace

SmtpSender::SmtpSender(std::string relay, std::chrono::milliseconds timeout)
    : relay_(std::move(relay)), timeout_(timeout) {}

filters::Result<std::string> SmtpSender::send(const std::string& from, const std::string& to,
                                              std::string_view message) {
    const Poco::Timespan timeout(static_cast<Poco::Timespan::TimeDiff>(timeout_.count()) * 1000);
    try {
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress(relay_), timeout);
        Poco::Net::SMTPClientSession session(socket);
        session.setTimeout(timeout);
        session.login(host_name());
        session.sendAddresses(from, {to});
        session.sendData();
        // The raw-stream variant copies the bytes as they are, apart from dot-stuffing and the
        // final CRLF "." CRLF; it throws unless the relay answers 2xx to the end of data.
        std::istringstream in{std::string(message)};
        session.sendMessage(in);
        try {
            session.close();
        } catch (const Poco::Exception&) {
            // The message is queued once the end of data was accepted; QUIT is a courtesy.
        }
        return "end of data accepted by " + relay_;
    } catch (const Poco::Net::SMTPException& e) {
        const int status = e.code();
        return fail(status >= 500 && status < 600 ? ErrorCode::Internal : ErrorCode::Transient,
                    "release.smtp_failed", relay_ + ": " + e.message());
    } catch (const Poco::Exception& e) {
        return fail(ErrorCode::Transient, "release.smtp_failed", relay_ + ": " + e.displayText());
    } catch (const std::exception& e) {
        return fail(ErrorCode::Transient, "release.smtp_failed", relay_ + ": " + e.what());
    }
}

} // namespace mugaika::gateway
