#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gmime/gmime.h>

#include "filters/core/result.hpp"
#include "gateway/mime/gref.hpp"
#include "gateway/mime/mime_limits.hpp"

namespace mugaika::gateway {

/// What a node of the MIME tree is.
enum class NodeKind : std::uint8_t {
    Leaf,      ///< a part with content
    Multipart, ///< a container of parts
    Message,   ///< message/rfc822: a container of one inner message
};

/// One raw header field: name and value as received (value unfolded only by the caller).
struct RawHeader {
    std::string name;
    std::string value;
};

/// One node of the walked MIME tree. Strings are decoded UTF-8 (names) or lower-case ASCII (types).
struct MimeNode {
    std::string path; ///< IMAP-style: "1", "1.2", "2.1.3"; "" for the root container
    NodeKind kind = NodeKind::Leaf;
    std::string content_type;             ///< "text/html", lower-case; "text/plain" when absent
    std::string charset;                  ///< charset parameter, lower-case, may be empty
    std::string filename;                 ///< decoded UTF-8 from filename= or name=, may be empty
    std::string disposition;              ///< "inline", "attachment" or ""
    std::string content_id;               ///< without angle brackets
    std::string transfer_encoding;        ///< "base64", "quoted-printable", "7bit", ...
    std::size_t depth = 0;                ///< 0 for the top-level entity
    int parent = -1;                      ///< index into MimeTree::nodes(), -1 for the root
    std::vector<int> children;            ///< indices into MimeTree::nodes()
    std::vector<RawHeader> inner_headers; ///< Message nodes: the inner message's header fields
    GMimeObject* object = nullptr; ///< borrowed from the tree's message; valid while the tree lives
};

/// A parser finding: a stable code ("mime.malformed_multipart"), whether GMime rates it critical
/// (another parser may read the message differently), and the offset.
struct ParseIssue {
    std::string_view code;
    bool critical = false;
    std::int64_t offset = -1;
};

/// Decoded content of one leaf. Owns the buffer; `bytes` stays valid while this object lives.
struct DecodedContent {
    GRef<GMimeStream> stream;
    std::string_view bytes;
    bool bad_encoding = false; ///< the transfer encoding had invalid characters or was truncated
};

/// A parsed message and its walked tree. Thread-compatible: use from one thread at a time.
class MimeTree {
public:
    /// Parses `message` (not copied when `fd` >= 0 names an open file with the same bytes; else
    /// copied into GMime's stream). Errors: "mime.depth_exceeded", "mime.parts_exceeded",
    /// "mime.header_too_large" (LimitExceeded), "mime.parse_failed" (Malformed).
    [[nodiscard]] static filters::Result<MimeTree> parse(std::string_view message, int fd,
                                                         const MimeLimits& limits);

    [[nodiscard]] const std::vector<MimeNode>& nodes() const noexcept { return nodes_; }
    [[nodiscard]] const std::vector<ParseIssue>& issues() const noexcept { return issues_; }
    /// Top-level header fields in order, raw (folded) values as received.
    [[nodiscard]] const std::vector<RawHeader>& headers() const noexcept { return headers_; }

    /// Decodes a leaf's transfer encoding. Error "mime.part_too_large" when the decoded size
    /// exceeds max_size; "mime.decode_failed" when GMime cannot produce the content.
    [[nodiscard]] filters::Result<DecodedContent> decode(const MimeNode& leaf,
                                                         std::size_t max_size) const;

private:
    GRef<GMimeMessage> message_;
    std::vector<MimeNode> nodes_;
    std::vector<ParseIssue> issues_;
    std::vector<RawHeader> headers_;
};

/// Raw header fields of a GMime object, in order.
[[nodiscard]] std::vector<RawHeader> raw_headers_of(GMimeObject* object);

/// The first raw value of `name` (case-insensitive) in `headers`, or "" when absent.
[[nodiscard]] std::string_view find_header(const std::vector<RawHeader>& headers,
                                           std::string_view name) noexcept;

} // namespace mugaika::gateway
