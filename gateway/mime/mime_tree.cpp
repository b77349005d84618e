#include "gateway/mime/mime_tree.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "filters/core/cptr.hpp"
#include "filters/text/header_text.hpp"

namespace mugaika::gateway {
namespace {

using filters::ErrorCode;
using filters::fail;
using ParserOptionsPtr = filters::CPtr<GMimeParserOptions, g_mime_parser_options_free>;

void free_gchar(gchar* p) noexcept {
    g_free(p);
}
using GCharPtr = filters::CPtr<gchar, free_gchar>;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

std::string_view issue_code(GMimeParserWarning w, bool& critical) noexcept {
    critical = false;
    switch (w) {
    case GMIME_WARN_DUPLICATED_HEADER:
        return "mime.duplicated_header";
    case GMIME_WARN_DUPLICATED_PARAMETER:
        return "mime.duplicated_parameter";
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        return "mime.unencoded_8bit_header";
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        return "mime.invalid_content_type";
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        return "mime.invalid_rfc2047";
    case GMIME_WARN_MALFORMED_MULTIPART:
        return "mime.malformed_multipart";
    case GMIME_WARN_TRUNCATED_MESSAGE:
        return "mime.truncated";
    case GMIME_WARN_MALFORMED_MESSAGE:
        return "mime.malformed_message";
    case GMIME_WARN_INVALID_PARAMETER:
        return "mime.invalid_parameter";
    case GMIME_WARN_INVALID_ADDRESS_LIST:
        return "mime.invalid_address_list";
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        return "mime.part_without_content";
    case GMIME_CRIT_INVALID_HEADER_NAME:
        critical = true;
        return "mime.crit.invalid_header_name";
    case GMIME_CRIT_CONFLICTING_HEADER:
        critical = true;
        return "mime.crit.conflicting_header";
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        critical = true;
        return "mime.crit.conflicting_parameter";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        critical = true;
        return "mime.crit.multipart_without_boundary";
    case GMIME_CRIT_NESTING_OVERFLOW:
        critical = true;
        return "mime.crit.nesting_overflow";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        critical = true;
        return "mime.crit.part_without_headers_or_content";
    }
    critical = true;
    return "mime.crit.unknown";
}

void on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar* /*item*/,
                       gpointer user_data) {
    auto* issues = static_cast<std::vector<ParseIssue>*>(user_data);
    if (issues->size() >= 1000) {
        return; // bounded: a hostile message can raise one warning per line
    }
    bool critical = false;
    std::string_view c = issue_code(code, critical);
    issues->push_back(ParseIssue{c, critical, offset});
}

std::string child_path(const std::string& parent, std::size_t index) {
    return parent.empty() ? std::to_string(index) : parent + "." + std::to_string(index);
}

filters::Result<void> check_headers(const std::vector<RawHeader>& headers,
                                    std::size_t max_header_size) {
    for (const RawHeader& h : headers) {
        if (h.name.size() + h.value.size() > max_header_size) {
            return fail(ErrorCode::LimitExceeded, "mime.header_too_large",
                        "header=" + h.name.substr(0, 64) +
                            " size=" + std::to_string(h.name.size() + h.value.size()));
        }
    }
    return {};
}

void fill_leaf_fields(MimeNode& node, GMimeObject* object, const std::vector<RawHeader>& hdrs) {
    GMimeContentType* ct = g_mime_object_get_content_type(object);
    if (ct != nullptr) {
        GCharPtr mime(g_mime_content_type_get_mime_type(ct));
        node.content_type = lower(mime ? mime.get() : "text/plain");
    } else {
        node.content_type = "text/plain";
    }
    std::string_view raw_ct = find_header(hdrs, "Content-Type");
    std::string_view raw_cd = find_header(hdrs, "Content-Disposition");
    if (auto cs = filters::text::header_param(raw_ct, "charset")) {
        node.charset = lower(*cs);
    }
    if (auto fn = filters::text::header_param(raw_cd, "filename"); fn && !fn->empty()) {
        node.filename = *fn;
    } else if (auto nm = filters::text::header_param(raw_ct, "name"); nm && !nm->empty()) {
        node.filename = *nm;
    }
    GMimeContentDisposition* cd = g_mime_object_get_content_disposition(object);
    if (cd != nullptr) {
        const char* d = g_mime_content_disposition_get_disposition(cd);
        node.disposition = lower(d != nullptr ? d : "");
    }
    if (const char* cid = g_mime_object_get_content_id(object)) {
        node.content_id = cid;
    }
    if (GMIME_IS_PART(object)) {
        GMimeContentEncoding enc = g_mime_part_get_content_encoding(GMIME_PART(object));
        const char* name = g_mime_content_encoding_to_string(enc);
        node.transfer_encoding = lower(name != nullptr ? name : "");
    }
}

/// True when the encoded base64 stream has characters outside the alphabet or a truncated
/// final quantum.
bool base64_is_damaged(GMimeStream* encoded) {
    if (encoded == nullptr) {
        return false;
    }
    // 0: outside the alphabet, 1: significant, 2: padding, 3: white space.
    static constexpr auto classes = [] {
        std::array<unsigned char, 256> t{};
        for (int c = 'A'; c <= 'Z'; ++c) {
            t[static_cast<std::size_t>(c)] = 1;
        }
        for (int c = 'a'; c <= 'z'; ++c) {
            t[static_cast<std::size_t>(c)] = 1;
        }
        for (int c = '0'; c <= '9'; ++c) {
            t[static_cast<std::size_t>(c)] = 1;
        }
        t['+'] = 1;
        t['/'] = 1;
        t['='] = 2;
        t['\r'] = 3;
        t['\n'] = 3;
        t[' '] = 3;
        t['\t'] = 3;
        return t;
    }();
    g_mime_stream_reset(encoded);
    std::array<char, 65536> buf{};
    std::size_t significant = 0;
    bool bad = false;
    bool seen_pad = false;
    for (;;) {
        const gssize n = g_mime_stream_read(encoded, buf.data(), buf.size());
        if (n <= 0) {
            break;
        }
        for (gssize i = 0; i < n; ++i) {
            const unsigned char k =
                classes[static_cast<unsigned char>(buf[static_cast<std::size_t>(i)])];
            if (k == 1) {
                bad = bad || seen_pad;
                ++significant;
            } else if (k == 2) {
                seen_pad = true;
                ++significant;
            } else if (k == 0) {
                bad = true;
            }
        }
    }
    g_mime_stream_reset(encoded);
    return bad || (significant % 4) != 0;
}

} // namespace

std::vector<RawHeader> raw_headers_of(GMimeObject* object) {
    std::vector<RawHeader> out;
    GMimeHeaderList* list = g_mime_object_get_header_list(object);
    if (list == nullptr) {
        return out;
    }
    int count = g_mime_header_list_get_count(list);
    out.reserve(static_cast<std::size_t>(std::max(count, 0)));
    for (int i = 0; i < count; ++i) {
        GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
        const char* name = g_mime_header_get_raw_name(h);
        const char* value = g_mime_header_get_raw_value(h);
        out.push_back(RawHeader{name != nullptr ? name : "", value != nullptr ? value : ""});
    }
    return out;
}

std::string_view find_header(const std::vector<RawHeader>& headers,
                             std::string_view name) noexcept {
    for (const RawHeader& h : headers) {
        if (iequals(h.name, name)) {
            return h.value;
        }
    }
    return {};
}

filters::Result<MimeTree> MimeTree::parse(std::string_view message, int fd,
                                          const MimeLimits& limits) {
    MimeTree tree;
    ParserOptionsPtr options(g_mime_parser_options_new());
    g_mime_parser_options_set_rfc2047_compliance_mode(options.get(), GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(options.get(), GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_warning_callback(options.get(), on_parser_warning, &tree.issues_);

    GRef<GMimeStream> stream;
    if (fd >= 0) {
        // GMime reads the spool file itself; persistent substreams refer to file offsets, so
        // large parts are never held in memory twice.
        int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (own < 0) {
            return fail(ErrorCode::Transient, "mime.parse_failed", "cannot duplicate spool fd");
        }
        stream = GRef<GMimeStream>::adopt(
            g_mime_stream_fs_new_with_bounds(own, 0, static_cast<gint64>(message.size())));
    } else {
        stream = GRef<GMimeStream>::adopt(
            g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
    }
    GRef<GMimeParser> parser =
        GRef<GMimeParser>::adopt(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
    g_mime_parser_set_persist_stream(parser.get(), TRUE);
    tree.message_ =
        GRef<GMimeMessage>::adopt(g_mime_parser_construct_message(parser.get(), options.get()));
    if (!tree.message_) {
        return fail(ErrorCode::Malformed, "mime.parse_failed", "no message could be read");
    }
    tree.headers_ = raw_headers_of(GMIME_OBJECT(tree.message_.get()));
    if (auto ok = check_headers(tree.headers_, limits.max_header_size); !ok) {
        return tl::unexpected(ok.error());
    }

    GMimeObject* root = g_mime_message_get_mime_part(tree.message_.get());
    if (root == nullptr) {
        // A message with headers only: an empty text body.
        MimeNode node;
        node.path = "1";
        node.content_type = "text/plain";
        tree.nodes_.push_back(std::move(node));
        return tree;
    }

    struct Pending {
        GMimeObject* object;
        int parent;
        std::string path;
        std::size_t depth;
    };
    std::vector<Pending> stack;
    stack.push_back(Pending{root, -1, GMIME_IS_MULTIPART(root) ? std::string() : "1", 0});
    while (!stack.empty()) {
        Pending cur = std::move(stack.back());
        stack.pop_back();
        if (cur.depth > limits.max_depth) {
            return fail(ErrorCode::LimitExceeded, "mime.depth_exceeded",
                        "limit=" + std::to_string(limits.max_depth));
        }
        if (tree.nodes_.size() >= limits.max_parts) {
            return fail(ErrorCode::LimitExceeded, "mime.parts_exceeded",
                        "limit=" + std::to_string(limits.max_parts));
        }
        std::vector<RawHeader> hdrs = raw_headers_of(cur.object);
        if (auto ok = check_headers(hdrs, limits.max_header_size); !ok) {
            return tl::unexpected(ok.error());
        }
        MimeNode node;
        node.path = cur.path;
        node.depth = cur.depth;
        node.parent = cur.parent;
        node.object = cur.object;
        fill_leaf_fields(node, cur.object, hdrs);
        const int index = static_cast<int>(tree.nodes_.size());
        if (cur.parent >= 0) {
            tree.nodes_[static_cast<std::size_t>(cur.parent)].children.push_back(index);
        }

        if (GMIME_IS_MULTIPART(cur.object)) {
            node.kind = NodeKind::Multipart;
            auto* mp = GMIME_MULTIPART(cur.object);
            int count = g_mime_multipart_get_count(mp);
            tree.nodes_.push_back(std::move(node));
            // Push in reverse so that children are visited (and numbered) in order.
            for (int i = count - 1; i >= 0; --i) {
                GMimeObject* child = g_mime_multipart_get_part(mp, i);
                if (child == nullptr) {
                    continue;
                }
                stack.push_back(Pending{child, index,
                                        child_path(cur.path, static_cast<std::size_t>(i) + 1),
                                        cur.depth + 1});
            }
            continue;
        }
        if (GMIME_IS_MESSAGE_PART(cur.object)) {
            GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(cur.object));
            GMimeObject* inner_root =
                inner != nullptr ? g_mime_message_get_mime_part(inner) : nullptr;
            if (inner_root != nullptr) {
                node.kind = NodeKind::Message;
                node.inner_headers = raw_headers_of(GMIME_OBJECT(inner));
                if (auto ok = check_headers(node.inner_headers, limits.max_header_size); !ok) {
                    return tl::unexpected(ok.error());
                }
                tree.nodes_.push_back(std::move(node));
                stack.push_back(
                    Pending{inner_root, index,
                            GMIME_IS_MULTIPART(inner_root) ? cur.path : child_path(cur.path, 1),
                            cur.depth + 1});
                continue;
            }
        }
        node.kind = NodeKind::Leaf;
        tree.nodes_.push_back(std::move(node));
    }
    return tree;
}

filters::Result<DecodedContent> MimeTree::decode(const MimeNode& leaf, std::size_t max_size) const {
    DecodedContent out;
    GMimeDataWrapper* wrapper = leaf.object != nullptr && GMIME_IS_PART(leaf.object)
                                    ? g_mime_part_get_content(GMIME_PART(leaf.object))
                                    : nullptr;
    if (wrapper == nullptr) {
        out.stream = GRef<GMimeStream>::adopt(g_mime_stream_mem_new());
        return out;
    }
    // Decoding never grows content (base64, quoted-printable, uuencode all shrink it), so the
    // encoded length reserves enough: one allocation instead of doubling reallocations that
    // would briefly hold two copies of a large attachment.
    const gint64 encoded = g_mime_stream_length(g_mime_data_wrapper_get_stream(wrapper));
    const auto reserve = static_cast<guint>(
        std::clamp<gint64>(encoded, 0,
                           static_cast<gint64>(std::min<std::size_t>(max_size, 1U << 31))) +
        16);
    out.stream = GRef<GMimeStream>::adopt(
        g_mime_stream_mem_new_with_byte_array(g_byte_array_sized_new(reserve)));
    if (g_mime_data_wrapper_get_encoding(wrapper) == GMIME_CONTENT_ENCODING_BASE64) {
        out.bad_encoding = base64_is_damaged(g_mime_data_wrapper_get_stream(wrapper));
    }
    if (g_mime_data_wrapper_write_to_stream(wrapper, out.stream.get()) < 0) {
        return fail(ErrorCode::Malformed, "mime.decode_failed", "part=" + leaf.path);
    }
    GByteArray* array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.stream.get()));
    if (array != nullptr && array->len > 0) {
        out.bytes = std::string_view(reinterpret_cast<const char*>(array->data), array->len);
    }
    if (out.bytes.size() > max_size) {
        return fail(ErrorCode::LimitExceeded, "mime.part_too_large",
                    "part=" + leaf.path + " size=" + std::to_string(out.bytes.size()));
    }
    return out;
}

} // namespace mugaika::gateway
