#include "filters/text/header_text.hpp"

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "filters/text/charset.hpp"

namespace {

using namespace mugaika::filters::text;

std::string param(std::string_view value, std::string_view name) {
    const std::optional<std::string> p = header_param(value, name);
    REQUIRE(p.has_value());
    CHECK(is_valid_utf8(*p));
    return *p;
}

} // namespace

TEST_CASE("header: plain and folded ASCII text is unfolded and kept") {
    CHECK(decode_header_text("Hello world") == "Hello world");
    CHECK(decode_header_text("Hello\r\n world") == "Hello world");
    CHECK(decode_header_text("Hello\r\n\tworld") == "Hello world");
    CHECK(decode_header_text("") == "");
    CHECK(decode_header_text("a = ? b =?= c ?=") == "a = ? b =?= c ?=");
}

TEST_CASE("header: B and Q encoded words decode in any case, Q underscores become spaces") {
    CHECK(decode_header_text("=?UTF-8?B?5ZCN5YmN?=") == "名前");
    CHECK(decode_header_text("=?utf-8?b?5ZCN5YmN?=") == "名前");
    CHECK(decode_header_text("=?UTF-8?Q?=E6=97=A5=E6=9C=AC_and_more?=") == "日本 and more");
    CHECK(decode_header_text("=?utf-8?q?=e6=97=a5=e6=9c=ac?=") == "日本");
    CHECK(decode_header_text("=?ISO-8859-1?Q?caf=E9?=") == "café");
    // RFC 2231 language suffix in the charset.
    CHECK(decode_header_text("=?UTF-8*ja?B?5ZCN5YmN?=") == "名前");
}

TEST_CASE("header: whitespace between adjacent encoded words is dropped, around text it is kept") {
    CHECK(decode_header_text("=?UTF-8?B?5ZCN?= =?UTF-8?B?5YmN?=") == "名前");
    CHECK(decode_header_text("=?UTF-8?B?5ZCN?=\r\n =?UTF-8?B?5YmN?=") == "名前");
    CHECK(decode_header_text("Re: =?UTF-8?B?5ZCN5YmN?= (2)") == "Re: 名前 (2)");
    CHECK(decode_header_text("=?UTF-8?Q?a?= b =?UTF-8?Q?c?=") == "a b c");
}

TEST_CASE("header: a UTF-8 character split over two B words decodes right") {
    // 添 (E6 B7 BB) + first byte of 付 | the rest of 付 and ファイル.
    CHECK(decode_header_text("=?UTF-8?B?5re75A==?= =?UTF-8?B?u5jjg5XjgqHjgqTjg6s=?=") ==
          "添付ファイル");
    // The same split in Q words.
    CHECK(decode_header_text("=?UTF-8?Q?=E6=B7?=\r\n =?UTF-8?Q?=BB?=") == "添");
    // A base64 quantum split across words (unpadded first word).
    CHECK(decode_header_text("=?UTF-8?B?5ZCN5Y?= =?UTF-8?B?mN?=") == "名前");
}

TEST_CASE("header: an ISO-2022-JP word split between escape sequences decodes right") {
    // ESC $ B 会議の | お知らせ ESC ( B: the second word has no escape of its own.
    CHECK(decode_header_text(
              "=?ISO-2022-JP?B?GyRCMnE1RCRO?=\r\n =?ISO-2022-JP?B?JCpDTiRpJDsbKEI=?=") ==
          "会議のお知らせ");
    // NEC extension characters (① ㈱) inside an encoded word.
    CHECK(decode_header_text("=?iso-2022-jp?B?GyRCLSEtaiRON28bKEI=?=") == "①㈱の件");
}

TEST_CASE("header: words in different charsets are decoded each with its own charset") {
    CHECK(decode_header_text("=?UTF-8?B?5ZCN?= =?ISO-2022-JP?B?GyRCJDMkcxsoQg==?= "
                             "=?Shift_JIS?B?h0CHiu7ggsyOkZe/?= =?ISO-8859-1?Q?=E9?=") ==
          "名こん①㈱髙の資料é");
}

TEST_CASE("header: encoded words glued to text or inside quotes are decoded") {
    CHECK(decode_header_text("Re:=?UTF-8?B?5ZCN5YmN?=") == "Re:名前");
    CHECK(decode_header_text("\"=?UTF-8?B?5ZCN5YmN?=\" <a@example.jp>") ==
          "\"名前\" <a@example.jp>");
    CHECK(decode_header_text("x=?UTF-8?B?5ZCN?=y") == "x名y");
}

TEST_CASE("header: malformed encoded words stay literal") {
    for (const std::string_view raw :
         {"=?UTF-8?X?abc?=", "=?UTF-8?B?ab c?=", "=?UTF-8?B?a$b?=", "=??B?abc?=", "=?UTF-8?B?abc",
          "=?", "=?UTF-8?", "=?UTF-8?B"}) {
        CAPTURE(raw);
        CHECK(decode_header_text(raw) == raw);
    }
    // A good word after a bad one still decodes.
    CHECK(decode_header_text("=?UTF-8?X?abc?= =?UTF-8?B?5ZCN?=") == "=?UTF-8?X?abc?= 名");
}

TEST_CASE("header: a header full of encoded-word starts is decoded in bounded time and kept") {
    std::string raw;
    for (int k = 0; k < 20000; ++k) {
        raw += "=?a?Q?";
    }
    CHECK(decode_header_text(raw) == raw);
    const std::string long_word = "=?UTF-8?Q?" + std::string(2000, 'a') + "?=";
    CHECK(decode_header_text(long_word) == long_word);
}

TEST_CASE("header: raw 8-bit and bare ISO-2022-JP subjects from non-RFC senders are detected") {
    // Shift_JIS "①㈱髙の資料" sent unencoded.
    CHECK(decode_header_text("Re: \x87@\x87\x8a\xee\xe0\x82\xcc\x8e\x91\x97\xbf") ==
          "Re: ①㈱髙の資料");
    CHECK(decode_header_text("Re: 名前") == "Re: 名前");
    CHECK(decode_header_text("\x1b$B$3$s$K$A$O\x1b(B world") == "こんにちは world");
    // A lying charset in the word is corrected too (Shift_JIS bytes labelled ISO-2022-JP).
    CHECK(decode_header_text("=?ISO-2022-JP?B?h0CHiu7ggsyOkZe/?=") == "①㈱髙の資料");
}

TEST_CASE("header: control characters and bidi overrides never reach the decoded text") {
    const std::string s = decode_header_text("=?UTF-8?Q?a=0D=0Ab=00c=E2=80=AEfdp.exe?=");
    CHECK(s == "a bcfdp.exe");
    CHECK(decode_header_text("a\x01"
                             "b\x7f") == "ab");
}

TEST_CASE("header: header_param reads RFC 2231 continuations in CP932 and UTF-8, in any order, "
          "mixed encoded and plain") {
    CHECK(param("attachment; filename*=Shift_JIS''%8E%91%97%BF%87%40%2E%78%6C%73%78", "filename") ==
          "資料①.xlsx");
    CHECK(param("attachment;\r\n filename*0*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8%5F%E6;\r\n"
                " filename*1*=%9C%80%E7%B5%82%E7%89%88;\r\n filename*2=\".docx\"",
                "filename") == "報告書_最終版.docx");
    // Out of order, sections split mid-character, the charset applies to the joined bytes.
    CHECK(param("attachment; filename*2=\".xlsx\"; filename*1*=%97%BF%87%40;"
                " filename*0*=shift_jis'ja'%8E%91",
                "FILENAME") == "資料①.xlsx");
    // An RFC 2231 value wins over a plain one.
    CHECK(param("attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E5%90%8D", "filename") ==
          "名");
    // No charset: detected.
    CHECK(param("attachment; filename*=''%8E%91%97%BF%82%CC%88%C4", "filename") == "資料の案");
}

TEST_CASE("header: header_param decodes RFC 2047 inside a quoted value, as Outlook sends") {
    CHECK(param("application/pdf; name=\"=?ISO-2022-JP?B?GyRCRTpJVTtxTkEbKEIucGRm?=\"", "name") ==
          "添付資料.pdf");
    CHECK(param("attachment; filename=\"=?UTF-8?B?5re75A==?= =?UTF-8?B?u5jjg5XjgqHjgqTjg6s=?=\"",
                "filename") == "添付ファイル");
    // Unquoted, and split over plain RFC 2231 continuations.
    CHECK(param("attachment; filename==?UTF-8?B?5ZCN5YmN?=", "filename") == "名前");
    CHECK(param("attachment; filename*0=\"=?UTF-8?B?5ZCN\"; filename*1=\"5YmN?=\"", "filename") ==
          "名前");
}

TEST_CASE("header: header_param handles quoted-pairs, comments, case and raw Shift_JIS") {
    CHECK(param("attachment; filename=\"a \\\"quoted\\\" name.txt\"", "filename") ==
          "a \"quoted\" name.txt");
    CHECK(param("text/plain; charset=us-ascii (Plain text)", "charset") == "us-ascii");
    CHECK(param("text/plain (comment; name=x); CHARSET=\"ISO-2022-JP\"", "charset") ==
          "ISO-2022-JP");
    CHECK(param("attachment; (c) FileName = \"a.txt\" (c)", "filename") == "a.txt");
    // Raw Shift_JIS "表示ソフト.txt": 表 and ソ end in 0x5C, which is not a quoted-pair here.
    CHECK(param("attachment; filename=\"\x95\x5c\x8e\xa6\x83\x5c\x83t\x83g.txt\"", "filename") ==
          "表示ソフト.txt");
    CHECK(param("attachment; filename=資料.pdf", "filename") == "資料.pdf");
    // A name must match whole: "name" is not "filename".
    CHECK_FALSE(header_param("attachment; filename=a.txt", "name").has_value());
    CHECK_FALSE(header_param("attachment", "filename").has_value());
    CHECK_FALSE(header_param("", "filename").has_value());
    CHECK(param("attachment; filename=\"\"", "filename").empty());
}

TEST_CASE("header: encode_header_text keeps printable ASCII and round-trips long Japanese text "
          "with every line at most 78 characters") {
    CHECK(encode_header_text("Meeting notes", 9) == "Meeting notes");
    const std::string texts[] = {
        "【重要】令和6年度 第3回 情報セキュリティ委員会の開催について（ご案内）①㈱髙﨑～－ "
        "添付ファイルをご確認のうえ、期日までにご回答くださいますようお願い申し上げます。",
        "mixed ASCII and 日本語 and emoji 😀😀😀 and more ASCII text to make it long enough",
        "looks like =?UTF-8?B?5ZCN?= but is text",
        "ｶﾀｶﾅ",
    };
    for (const std::size_t name_len : {std::size_t{9}, std::size_t{30}, std::size_t{40}}) {
        for (const std::string& text : texts) {
            CAPTURE(text);
            CAPTURE(name_len);
            const std::string enc = encode_header_text(text, name_len);
            CHECK(decode_header_text(enc) == text);
            std::size_t line_start = 0;
            bool first = true;
            while (line_start <= enc.size()) {
                std::size_t end = enc.find("\r\n", line_start);
                if (end == std::string::npos) {
                    end = enc.size();
                }
                const std::string_view line(enc.data() + line_start, end - line_start);
                CHECK(line.size() + (first ? name_len : 0) <= 78);
                if (!first) {
                    CHECK(line.starts_with(" =?UTF-8?B?"));
                    CHECK(line.size() <= 76);
                }
                // Every word carries whole characters: decoded alone, no U+FFFD appears.
                CHECK(decode_header_text(line).find("\xef\xbf\xbd") == std::string::npos);
                first = false;
                line_start = end + 2;
            }
        }
    }
}

TEST_CASE("header: encode_header_text removes line breaks and controls from the value") {
    const std::string enc = encode_header_text("evil\r\nBcc: x@example.jp\x01", 9);
    CHECK(enc.find('\r') == std::string::npos);
    CHECK(enc.find('\n') == std::string::npos);
    CHECK(decode_header_text(enc) == "evil Bcc: x@example.jp");
}

TEST_CASE("header: random bytes never crash the header decoders and always give valid UTF-8") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> len_dist(0, 200);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    const std::string_view alphabet = "=?QqBb_;*'\"\\()% \t\r\nAZaz09+/\x1b$@\x82\xa4\xe3";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    const std::string_view prefixes[] = {"", "=?UTF-8?B?", "=?ISO-2022-JP?Q?",
                                         "a; name*0*=", "a; name=\"=?Shift_JIS?B?"};
    for (int round = 0; round < 600; ++round) {
        std::string bytes(prefixes[static_cast<std::size_t>(round) % std::size(prefixes)]);
        const int len = len_dist(rng);
        for (int k = 0; k < len; ++k) {
            bytes.push_back(round % 2 == 0 ? static_cast<char>(byte_dist(rng))
                                           : alphabet[pick(rng)]);
        }
        const std::string text = decode_header_text(bytes);
        CHECK(is_valid_utf8(text));
        CHECK(text.find_first_of("\r\n") == std::string::npos);
        if (const auto p = header_param(bytes, "name")) {
            CHECK(is_valid_utf8(*p));
        }
        CHECK(is_valid_utf8(encode_header_text(bytes, 9)));
        CHECK(decode_header_text(encode_header_text(text, 9)) == text);
    }
}
