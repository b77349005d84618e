#include "gateway/rules/rules.hpp"

#include <doctest/doctest.h>

using namespace mugaika::gateway;

namespace {
Rule rule(std::string id, Action a) {
    Rule r;
    r.id = std::move(id);
    r.action = a;
    return r;
}
} // namespace

TEST_CASE("rules: the first matching rule decides and is named") {
    std::vector<Rule> rules;
    Rule exe = rule("reject-exe", Action::Reject);
    exe.extensions = {"exe", "scr"};
    rules.push_back(exe);
    Rule pdf = rule("keep-pdf-from-partner", Action::Keep);
    pdf.senders = {"@partner.example.jp"};
    pdf.detected_types = {"application/pdf"};
    rules.push_back(pdf);
    Rule any = rule("strip-rest", Action::Strip);
    any.role = Role::Attachment;
    rules.push_back(any);
    const std::vector<std::string> rcpts{"staff@city.example.lg.jp"};

    PartFacts f;
    f.direction = "inbound";
    f.recipients = &rcpts;
    f.role = Role::Attachment;

    SUBCASE("extension, case-insensitive, after a double extension") {
        f.filename = "invoice.pdf.EXE";
        auto d = decide(rules, f);
        CHECK(d.action == Action::Reject);
        CHECK(d.rule == "reject-exe");
    }
    SUBCASE("sender domain and detected type together") {
        f.sender = "billing@partner.example.jp";
        f.detected_type = "application/pdf";
        f.filename = "a.pdf";
        CHECK(decide(rules, f).rule == "keep-pdf-from-partner");
        f.detected_type = "application/zip";
        CHECK(decide(rules, f).rule == "strip-rest");
    }
    SUBCASE("no match: bodies become text, everything else is stripped") {
        std::vector<Rule> none;
        f.role = Role::Body;
        CHECK(decide(none, f).action == Action::Text);
        CHECK(decide(none, f).rule == fallback_rule_id);
        f.role = Role::Attachment;
        CHECK(decide(none, f).action == Action::Strip);
    }
}

TEST_CASE("rules: direction, recipient and size conditions all must hold") {
    Rule r = rule("big-outbound", Action::Reject);
    r.direction = "outbound";
    r.recipients = {".example.com"};
    r.min_size = 1000;
    r.max_size = 2000;
    const std::vector<Rule> rules{r};
    const std::vector<std::string> rcpts{"a@x.jp", "b@mail.example.com"};
    PartFacts f;
    f.direction = "outbound";
    f.recipients = &rcpts;
    f.size = 1500;
    CHECK(decide(rules, f).rule == "big-outbound");
    f.size = 999;
    CHECK(decide(rules, f).rule == fallback_rule_id);
    f.size = 2001;
    CHECK(decide(rules, f).rule == fallback_rule_id);
    f.size = 1500;
    f.direction = "inbound";
    CHECK(decide(rules, f).rule == fallback_rule_id);
}

TEST_CASE("rules: address and type patterns") {
    CHECK(address_matches("User@Example.JP", "user@example.jp"));
    CHECK(address_matches("<user@example.jp>", "@example.jp"));
    CHECK(address_matches("user@example.jp", "example.jp"));
    CHECK_FALSE(address_matches("user@sub.example.jp", "example.jp"));
    CHECK(address_matches("user@sub.example.jp", ".example.jp"));
    CHECK_FALSE(address_matches("user@badexample.jp", ".example.jp"));
    CHECK_FALSE(address_matches("", "example.jp"));
    CHECK(type_matches("image/png", "image/*"));
    CHECK(type_matches("TEXT/HTML", "text/html"));
    CHECK(type_matches("application/pdf", "*/*"));
    CHECK_FALSE(type_matches("imagex/png", "image/*"));
}

TEST_CASE("rules: extensions ignore Windows' trailing dots and spaces") {
    CHECK(extension_of("a.PDF") == "pdf");
    CHECK(extension_of("invoice.pdf.exe") == "exe");
    CHECK(extension_of("evil.exe. ") == "exe");
    CHECK(extension_of("C:\\tmp\\x.js") == "js");
    CHECK(extension_of(".bashrc").empty());
    CHECK(extension_of("noext").empty());
}

TEST_CASE("rules: archive verdict, encryption and contents conditions") {
    std::vector<Rule> rules;
    Rule bomb = rule("bomb", Action::Reject);
    bomb.archive = {"limit_exceeded", "corrupt"};
    rules.push_back(bomb);
    Rule ppap = rule("ppap", Action::Quarantine);
    ppap.encrypted = true;
    rules.push_back(ppap);
    Rule active = rule("active", Action::Discard);
    active.contains = content_bit("executable").value() | content_bit("macro").value();
    rules.push_back(active);

    PartFacts f;
    f.role = Role::Attachment;
    CHECK(decide(rules, f).rule == fallback_rule_id); // "none", not encrypted, holds nothing
    f.archive = "corrupt";
    CHECK(decide(rules, f).rule == "bomb");
    f.archive = "encrypted";
    CHECK(decide(rules, f).rule == fallback_rule_id); // the verdict alone is not `encrypted`
    f.encrypted = true;
    CHECK(decide(rules, f).action == Action::Quarantine);
    f.encrypted = false;
    f.archive = "listed";
    f.contains = content_bit("script").value() | content_bit("text").value();
    CHECK(decide(rules, f).rule == fallback_rule_id); // neither executable nor macro
    f.contains |= content_bit("macro").value();
    CHECK(decide(rules, f).action == Action::Discard);
}

TEST_CASE("rules: content class names round-trip and unknown names are refused") {
    CHECK(content_names(content_bit("executable").value() | content_bit("macro").value() |
                        content_bit("archive").value()) == "archive,executable,macro");
    CHECK_FALSE(content_bit("virus"));
    CHECK_FALSE(content_bit(""));
    CHECK(content_names(0).empty());
    CHECK(content_names_all().find("script") != std::string::npos);
    CHECK(parse_action("quarantine") == Action::Quarantine);
    CHECK(parse_action("discard") == Action::Discard);
    CHECK(to_string(Action::Quarantine) == "quarantine");
    CHECK_FALSE(parse_action("tempfail")); // never chosen by rules
}
