#include "filters/text/charset.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

namespace {

using namespace mugaika::filters::text;
using mugaika::filters::ErrorCode;

constexpr std::size_t big = 1 << 20;

Decoded decode(std::string_view bytes, std::string_view label) {
    auto r = decode_to_utf8(bytes, label, big);
    REQUIRE(r.has_value());
    CHECK(is_valid_utf8(r->utf8));
    return std::move(*r);
}

bool seven_bit(std::string_view s) {
    for (const char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return false;
        }
    }
    return true;
}

// The same Japanese sentence (35 characters) in three encodings.
constexpr std::string_view sentence_utf8 =
    "本日の会議資料を送付いたします。ご確認のほどよろしくお願いいたします。";
constexpr std::string_view sentence_sjis =
    "\x96{\x93\xfa\x82\xcc\x89\xef\x8b"
    "c\x8e\x91\x97\xbf\x82\xf0\x91\x97\x95t\x82\xa2\x82\xbd\x82\xb5\x82\xdc\x82\xb7\x81"
    "B\x82\xb2\x8am\x94"
    "F\x82\xcc\x82\xd9\x82\xc7\x82\xe6\x82\xeb\x82\xb5\x82\xad\x82\xa8\x8a\xe8\x82\xa2\x82\xa2"
    "\x82\xbd\x82\xb5\x82\xdc\x82\xb7\x81"
    "B";
constexpr std::string_view sentence_euc =
    "\xcb\xdc\xc6\xfc\xa4\xce\xb2\xf1\xb5\xc4\xbb\xf1\xce\xc1\xa4\xf2\xc1\xf7\xc9\xd5\xa4\xa4\xa4"
    "\xbf\xa4\xb7\xa4\xde\xa4\xb9\xa1\xa3\xa4\xb4\xb3\xce\xc7\xa7\xa4\xce\xa4\xdb\xa4\xc9\xa4\xe8"
    "\xa4\xed\xa4\xb7\xa4\xaf\xa4\xaa\xb4\xea\xa4\xa4\xa4\xa4\xa4\xbf\xa4\xb7\xa4\xde\xa4\xb9\xa1"
    "\xa3";

// ①②㈱㌔ 髙(0xFBFC, IBM) 﨑(0xED95, NEC-selected IBM) ～(0x8160) −(0x817C) in CP932.
constexpr std::string_view ext_sjis = "\x87@\x87"
                                      "A\x87\x8a\x87`\xfb\xfc\xed\x95\x81`\x81|";
constexpr std::string_view ext_utf8 = "①②㈱㌔髙﨑～－";

} // namespace

TEST_CASE("charset: every alias of a label maps to its canonical name") {
    struct Row {
        std::string_view label;
        std::string_view canonical;
    };
    const Row rows[] = {
        {"Shift_JIS", "cp932"},
        {"shift-jis", "cp932"},
        {"SJIS", "cp932"},
        {"x-sjis", "cp932"},
        {"Windows-31J", "cp932"},
        {"MS932", "cp932"},
        {"cp932", "cp932"},
        {"ISO-2022-JP", "iso-2022-jp"},
        {"iso-2022-jp-1", "iso-2022-jp"},
        {"ISO-2022-JP-2", "iso-2022-jp"},
        {"iso-2022-jp-3", "iso-2022-jp"},
        {"csISO2022JP", "iso-2022-jp"},
        {"EUC-JP", "euc-jp"},
        {"x-euc-jp", "euc-jp"},
        {"eucJP-ms", "euc-jp"},
        {"utf8", "utf-8"},
        {"UTF-8", "utf-8"},
        {"ascii", "us-ascii"},
        {"US-ASCII", "us-ascii"},
        {"ANSI_X3.4-1968", "us-ascii"},
        {"ISO-8859-1", "windows-1252"},
        {"latin1", "windows-1252"},
        {"  \"UTF-8\" ", "utf-8"},
        {"KOI8-R", "koi8-r"},
        {"x-Unknown", "x-unknown"},
        {"", ""},
    };
    for (const Row& row : rows) {
        CAPTURE(row.label);
        CHECK(canonical_charset(row.label) == row.canonical);
    }
}

TEST_CASE("charset: is_valid_utf8 rejects overlongs, surrogates, code points above U+10FFFF and "
          "truncation") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain ascii"));
    CHECK(is_valid_utf8("日本語 ① 😀"));
    CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf")); // U+10FFFF
    CHECK_FALSE(is_valid_utf8("\xc0\x80"));   // overlong NUL
    CHECK_FALSE(is_valid_utf8("\xc1\xbf"));
    CHECK_FALSE(is_valid_utf8("\xe0\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80")); // surrogate D800
    CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xe3\x81"));
    CHECK_FALSE(is_valid_utf8("\x80"));
    CHECK_FALSE(is_valid_utf8("\xff"));
}

TEST_CASE("charset: detect_charset classifies Japanese text of 20+ characters in every encoding, "
          "including NEC/IBM extension characters") {
    CHECK(detect_charset("Hello, world") == "us-ascii");
    CHECK(detect_charset("") == "us-ascii");
    CHECK(detect_charset("\x1b$B$3$s$K$A$O\x1b(B") == "iso-2022-jp");
    CHECK(detect_charset("abc \x1b(Jxyz") == "iso-2022-jp");
    CHECK(detect_charset(sentence_utf8) == "utf-8");
    CHECK(detect_charset(sentence_sjis) == "cp932");
    CHECK(detect_charset(sentence_euc) == "euc-jp");
    CHECK(detect_charset(std::string(sentence_sjis) + std::string(ext_sjis)) == "cp932");
    const std::string_view ext_euc =
        "\xad\xa1\xad\xea\xa1\xc1\xa1\xdd\x8f\xf4\xfb\x8f\xf4\xbd"; // ①㈱～−髙﨑
    CHECK(detect_charset(std::string(sentence_euc) + std::string(ext_euc)) == "euc-jp");
    // UTF-8 with one damaged byte is still UTF-8, not a legacy charset.
    CHECK(detect_charset(std::string(sentence_utf8) + "\xff") == "utf-8");
}

TEST_CASE("charset: Shift_JIS in all its labels decodes as CP932, keeping NEC/IBM characters and "
          "the ～ and − traps") {
    for (const std::string_view label :
         {"Shift_JIS", "shift_jis", "SJIS", "x-sjis", "Windows-31J", "MS932", "CP932"}) {
        CAPTURE(label);
        const Decoded d = decode(ext_sjis, label);
        CHECK(d.utf8 == ext_utf8);
        CHECK(d.charset == "cp932");
        CHECK_FALSE(d.label_mismatch);
        CHECK(d.replaced == 0);
    }
    // ～ is U+FF5E (not U+301C), − is U+FF0D (not U+2212), 髙 from 0xFBFC and 0xEEE0 alike.
    CHECK(decode("\x81`", "Shift_JIS").utf8 == "\xef\xbd\x9e");
    CHECK(decode("\x81|", "Shift_JIS").utf8 == "\xef\xbc\x8d");
    CHECK(decode("\xfb\xfc\xee\xe0", "Shift_JIS").utf8 == "髙髙");
    CHECK(decode(sentence_sjis, "shift_jis").utf8 == sentence_utf8);
}

TEST_CASE("charset: halfwidth katakana decode from Shift_JIS and from ISO-2022-JP (ESC ( I and "
          "SO/SI)") {
    CHECK(decode("\xb6\xde\xb7\xde\xb8\xde\xc3\xbd\xc4", "Shift_JIS").utf8 == "ｶﾞｷﾞｸﾞﾃｽﾄ");
    CHECK(decode("\x1b(I6^7^8^C=D\x1b(B!", "ISO-2022-JP").utf8 == "ｶﾞｷﾞｸﾞﾃｽﾄ!");
    CHECK(decode("a\x0e"
                 "C=D\x0f"
                 "b",
                 "ISO-2022-JP")
              .utf8 == "aﾃｽﾄb");
}

TEST_CASE("charset: iso-2022-jp with NEC extension characters decodes without losing sync") {
    // ① と ㈱ の 後 も, then ASCII, then 髙 﨑 (IBM rows 92 and 89) さん.
    const std::string_view jis = "\x1b$B-!$H-j$N8e$b\x1b(B"
                                 "ASCII OK\r\n\x1b$B|byu$5$s\x1b(B";
    const Decoded d = decode(jis, "ISO-2022-JP");
    CHECK(d.utf8 == "①と㈱の後もASCII OK\r\n髙﨑さん");
    CHECK(d.replaced == 0);
    CHECK_FALSE(d.label_mismatch);
    CHECK(decode("\x1b$B$3$s$K$A$O\x1b(B", "iso-2022-jp").utf8 == "こんにちは");
    // ESC $ @, ESC & @ ESC $ B and ESC ( J are accepted too.
    CHECK(decode("\x1b$@$3\x1b(Ja\x1b&@\x1b$B$s\x1b(B", "ISO-2022-JP").utf8 == "こaん");
    // A lazy encoder that does not return to ASCII before a line end: the next line is ASCII.
    CHECK(decode("\x1b$B$3\nabc", "ISO-2022-JP").utf8 == "こ\nabc");
    // JIS X 0212 (ESC $ ( D) through EUC-JP's SS3: "0o" is row 16 cell 79.
    CHECK(decode("\x1b$(D0o\x1b(B", "ISO-2022-JP").replaced == 0);
}

TEST_CASE("charset: EUC-JP decodes through eucJP-ms with NEC/IBM characters") {
    const Decoded d = decode("\xad\xa1\xad\xea\xa1\xc1\xa1\xdd\x8f\xf4\xfb\x8f\xf4\xbd", "EUC-JP");
    CHECK(d.utf8 == "①㈱～－髙﨑");
    CHECK(d.replaced == 0);
    CHECK(decode(sentence_euc, "x-euc-jp").utf8 == sentence_utf8);
}

TEST_CASE("charset: missing and lying labels are detected and flagged") {
    SUBCASE("ISO-2022-JP without a label") {
        const Decoded d = decode("\x1b$B$3$s$K$A$O\x1b(B", "");
        CHECK(d.utf8 == "こんにちは");
        CHECK(d.charset == "iso-2022-jp");
        CHECK(d.label_mismatch);
    }
    SUBCASE("ISO-2022-JP labelled us-ascii or UTF-8") {
        for (const std::string_view label : {"us-ascii", "utf-8", "Shift_JIS"}) {
            CAPTURE(label);
            const Decoded d = decode("\x1b$B$3$s$K$A$O\x1b(B", label);
            CHECK(d.utf8 == "こんにちは");
            CHECK(d.charset == "iso-2022-jp");
            CHECK(d.label_mismatch);
        }
    }
    SUBCASE("Shift_JIS labelled ISO-2022-JP") {
        const Decoded d = decode(sentence_sjis, "ISO-2022-JP");
        CHECK(d.utf8 == sentence_utf8);
        CHECK(d.charset == "cp932");
        CHECK(d.label_mismatch);
        CHECK(d.replaced == 0);
    }
    SUBCASE("UTF-8 labelled ISO-2022-JP, Shift_JIS, EUC-JP, us-ascii or windows-1252") {
        for (const std::string_view label :
             {"ISO-2022-JP", "Shift_JIS", "EUC-JP", "us-ascii", "iso-8859-1"}) {
            CAPTURE(label);
            const Decoded d = decode(sentence_utf8, label);
            CHECK(d.utf8 == sentence_utf8);
            CHECK(d.charset == "utf-8");
            CHECK(d.label_mismatch);
        }
    }
    SUBCASE("EUC-JP labelled Shift_JIS") {
        const Decoded d = decode(sentence_euc, "Shift_JIS");
        CHECK(d.utf8 == sentence_utf8);
        CHECK(d.charset == "euc-jp");
        CHECK(d.label_mismatch);
    }
    SUBCASE("Shift_JIS labelled EUC-JP") {
        const Decoded d = decode(sentence_sjis, "EUC-JP");
        CHECK(d.utf8 == sentence_utf8);
        CHECK(d.charset == "cp932");
        CHECK(d.label_mismatch);
    }
    SUBCASE("short Shift_JIS labelled EUC-JP") {
        const Decoded d = decode("\x83"
                                 "e\x83X\x83g",
                                 "EUC-JP"); // テスト
        CHECK(d.utf8 == "テスト");
        CHECK(d.charset == "cp932");
        CHECK(d.label_mismatch);
    }
    SUBCASE("short EUC-JP with kana labelled Shift_JIS") {
        const Decoded d = decode("\xa5\xc6\xa5\xb9\xa5\xc8", "Shift_JIS"); // テスト
        CHECK(d.utf8 == "テスト");
        CHECK(d.charset == "euc-jp");
        CHECK(d.label_mismatch);
    }
    SUBCASE("halfwidth katakana under a truthful label is not second-guessed") {
        // Valid in both charsets; without kana evidence the label stands.
        const Decoded sjis = decode("\xbe\xb0\xd9\xbd", "Shift_JIS");
        CHECK(sjis.utf8 == "ｾｰﾙｽ");
        CHECK_FALSE(sjis.label_mismatch);
        const Decoded euc = decode("\x8e\xbe\x8e\xb0\x8e\xd9", "EUC-JP");
        CHECK(euc.utf8 == "ｾｰﾙ");
        CHECK_FALSE(euc.label_mismatch);
        // Unlabelled EUC-JP halfwidth katakana with some kana is detected.
        CHECK(detect_charset("\x8e\xc3\x8e\xbd\x8e\xc4\xa4\xc7\xa4\xb9") == "euc-jp");
    }
    SUBCASE("Shift_JIS labelled UTF-8") {
        const Decoded d = decode(sentence_sjis, "UTF-8");
        CHECK(d.utf8 == sentence_utf8);
        CHECK(d.charset == "cp932");
        CHECK(d.label_mismatch);
    }
    SUBCASE("8-bit text without a label or with an unknown label") {
        for (const std::string_view label : {"", "x-unknown", "unknown-8bit", "utf-8//IGNORE"}) {
            CAPTURE(label);
            const Decoded d = decode(sentence_sjis, label);
            CHECK(d.utf8 == sentence_utf8);
            CHECK(d.charset == "cp932");
            CHECK(d.label_mismatch);
        }
    }
    SUBCASE("a truthful label is not flagged") {
        CHECK_FALSE(decode(sentence_utf8, "UTF-8").label_mismatch);
        CHECK_FALSE(decode("plain", "ISO-2022-JP").label_mismatch);
        CHECK_FALSE(decode("plain", "Shift_JIS").label_mismatch);
        CHECK(decode("plain", "Shift_JIS").charset == "cp932");
        // Mostly UTF-8 with one bad byte stays UTF-8 with one visible replacement.
        const Decoded d = decode(std::string(sentence_utf8) + "\xff", "utf-8");
        CHECK(d.charset == "utf-8");
        CHECK(d.replaced == 1);
        CHECK_FALSE(d.label_mismatch);
    }
}

TEST_CASE("charset: undecodable bytes become visible U+FFFD and are counted") {
    const std::string_view fffd = "\xef\xbf\xbd";
    SUBCASE("utf-8, one replacement per maximal subpart") {
        const Decoded d = decode("a\xff"
                                 "b\xe3\x81"
                                 "c\xed\xa0\x80",
                                 "utf-8");
        CHECK(d.utf8 == "a" + std::string(fffd) + "b" + std::string(fffd) + "c" +
                            std::string(fffd) + std::string(fffd) + std::string(fffd));
        CHECK(d.replaced == 5);
    }
    SUBCASE("cp932: unassigned pair, stray byte, truncated lead") {
        const Decoded d = decode("\x85\x90x\xa0y\x82", "Shift_JIS");
        CHECK(d.utf8 == std::string(fffd) + "x" + std::string(fffd) + "y" + std::string(fffd));
        CHECK(d.replaced == 3);
        // An ASCII byte after a lead byte is kept (the lead alone is replaced).
        const Decoded e = decode("\x82"
                                 "A",
                                 "Shift_JIS");
        CHECK(e.utf8 == std::string(fffd) + "A");
    }
    SUBCASE("iso-2022-jp: unknown escape, 8-bit byte, half a character, unassigned row") {
        const Decoded d = decode("\x1b$Ax\x1b$B$\x1b(B\x1b$Bu!\x1b(B", "ISO-2022-JP");
        CHECK(d.utf8 == std::string(fffd) + "$Ax" + std::string(fffd) + std::string(fffd));
        CHECK(d.replaced == 3);
        CHECK(d.charset == "iso-2022-jp");
    }
    SUBCASE("euc-jp: bytes 0x80-0xA0 are errors, not C1 controls") {
        const Decoded d = decode("\xa4\xa2\x80\xa0\xa4\xa2", "EUC-JP");
        CHECK(d.utf8 == "あ" + std::string(fffd) + std::string(fffd) + "あ");
        CHECK(d.replaced == 2);
    }
    SUBCASE("us-ascii with no better reading") {
        const Decoded d = decode("a\xff\xff", "us-ascii");
        CHECK(d.replaced == 2);
    }
}

TEST_CASE("charset: other charsets go through iconv") {
    CHECK(decode("\x80 caf\xe9", "windows-1252").utf8 == "€ café");
    CHECK(decode("caf\xe9", "ISO-8859-1").utf8 == "café");
    CHECK(decode("caf\xe9", "ISO-8859-15").utf8 == "café");
    CHECK(decode("\xf0\xd2\xc9\xd7\xc5\xd4", "koi8-r").utf8 == "Привет");
    CHECK(decode("\xff\xfe\x42\x30", "UTF-16").utf8 == "あ");
    CHECK(decode("\xc4\xe3\xba\xc3", "gb2312").utf8 == "你好");
    CHECK(decode("\xbe\xc8\xb3\xe7", "ks_c_5601-1987").utf8 == "안녕");
}

TEST_CASE("charset: hitting max_output fails with charset.output_exceeded on every path") {
    for (const std::string_view label :
         {"utf-8", "Shift_JIS", "ISO-2022-JP", "EUC-JP", "windows-1252", "us-ascii", ""}) {
        CAPTURE(label);
        const std::string input(200, 'a');
        const auto r = decode_to_utf8(input, label, 100);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::LimitExceeded);
        CHECK(r.error().what == "charset.output_exceeded");
        CHECK(decode_to_utf8(input, label, 200).has_value());
    }
    const auto jis = decode_to_utf8("\x1b$B$3$s$K$A$O\x1b(B", "ISO-2022-JP", 14);
    REQUIRE_FALSE(jis.has_value());
    CHECK(jis.error().what == "charset.output_exceeded");
    CHECK(decode_to_utf8("\x1b$B$3$s$K$A$O\x1b(B", "ISO-2022-JP", 15).has_value());
    const auto sjis = decode_to_utf8(sentence_sjis, "Shift_JIS", sentence_utf8.size() - 1);
    CHECK_FALSE(sjis.has_value());
}

TEST_CASE("charset: encode_iso2022jp round-trips through decode, NEC/IBM characters included") {
    CHECK(encode_iso2022jp("こんにちは").bytes == "\x1b$B$3$s$K$A$O\x1b(B");
    for (const std::string_view text :
         {sentence_utf8, ext_utf8, std::string_view("ASCII, 日本語,\r\nmixed ① ㈱ 髙 﨑 ～ －"),
          std::string_view("Ⅰ Ⅱ № ℡ ∵ ≒ ￢ ∮ ⅰ ￤")}) {
        CAPTURE(text);
        const Encoded e = encode_iso2022jp(text);
        CHECK(e.replaced == 0);
        CHECK(seven_bit(e.bytes));
        CHECK(e.bytes.ends_with("\x1b(B"));
        const Decoded d = decode(e.bytes, "ISO-2022-JP");
        CHECK(d.utf8 == text);
        CHECK(d.replaced == 0);
    }
    // 髙 is sent in the NEC-selected row 92 (what Windows sends), not the unencodable 0xFBFC area.
    CHECK(encode_iso2022jp("髙").bytes == "\x1b$B|b\x1b(B");
    CHECK(encode_iso2022jp("①").bytes == "\x1b$B-!\x1b(B");
    CHECK(encode_iso2022jp("").bytes.empty());
    CHECK(encode_iso2022jp("abc").bytes == "abc");
}

TEST_CASE("charset: encode_iso2022jp turns unrepresentable characters into 〓 and counts them") {
    const Encoded e = encode_iso2022jp("a😀b\xff"
                                       "c한");
    CHECK(e.replaced == 3);
    CHECK(decode(e.bytes, "ISO-2022-JP").utf8 == "a〓b〓c〓");
    // Escape sequences in the input cannot smuggle a charset switch into the output.
    const Encoded esc = encode_iso2022jp("a\x1b(Ib\x0e");
    CHECK(esc.replaced == 2);
    CHECK(decode(esc.bytes, "ISO-2022-JP").utf8 == "a〓(Ib〓");
    // A 〓 in the input is a character, not a replacement.
    CHECK(encode_iso2022jp("〓").replaced == 0);
}

TEST_CASE("charset: encode_iso2022jp makes halfwidth katakana fullwidth and maps JIS variants") {
    const Encoded e = encode_iso2022jp("ｶﾞｷﾞｸﾞﾃｽﾄ ﾊﾟﾋﾟｳﾞｯ｡");
    CHECK(e.replaced == 0);
    CHECK(decode(e.bytes, "ISO-2022-JP").utf8 == "ガギグテスト パピヴッ。");
    // U+301C WAVE DASH, U+2212 MINUS, U+2016, U+00A5 take the CP932 code points.
    CHECK(decode(encode_iso2022jp("〜−‖¥").bytes, "ISO-2022-JP").utf8 == "～－∥￥");
}

TEST_CASE("charset: clean_text removes controls, BOM and bidi overrides and unifies line ends") {
    const Cleaned c = clean_text("\xef\xbb\xbf"
                                 "a\x01\x7f"
                                 "b\r\nc\rd\te\xc2\x85"
                                 "f\xe2\x80\xae"
                                 "gpj.exe\xe2\x81\xa6h");
    CHECK(c.text == "ab\nc\nd\tefgpj.exeh");
    CHECK(c.removed == 6);
    CHECK(clean_text("nothing to do\n").removed == 0);
    CHECK(is_valid_utf8(clean_text("\xff\xfe").text));
}

TEST_CASE("charset: random bytes never crash any decoder and always give valid UTF-8") {
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<int> len_dist(0, 300);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    const std::string_view alphabet = "\x1b$B()@IJ&D!~\x0e\x0f\x82\x81\xa4\xe3\x8f\x8e\xff\xfc";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    for (int round = 0; round < 400; ++round) {
        std::string bytes;
        const int len = len_dist(rng);
        for (int k = 0; k < len; ++k) {
            // Half the rounds use bytes that matter to the decoders, to reach deep states.
            bytes.push_back(round % 2 == 0 ? static_cast<char>(byte_dist(rng))
                                           : alphabet[pick(rng)]);
        }
        CHECK(is_valid_utf8(clean_text(bytes).text));
        (void)detect_charset(bytes);
        for (const std::string_view label : {"", "utf-8", "Shift_JIS", "ISO-2022-JP", "EUC-JP",
                                             "us-ascii", "windows-1252", "UTF-16", "x-bogus"}) {
            const auto r = decode_to_utf8(bytes, label, big);
            REQUIRE(r.has_value());
            CHECK(is_valid_utf8(r->utf8));
        }
        const Encoded e = encode_iso2022jp(bytes);
        CHECK(seven_bit(e.bytes));
        const auto back = decode_to_utf8(e.bytes, "ISO-2022-JP", big);
        REQUIRE(back.has_value());
        CHECK(back->replaced == 0);
    }
}
