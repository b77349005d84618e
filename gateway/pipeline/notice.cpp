#include "gateway/pipeline/notice.hpp"

#include <algorithm>
#include <utility>

#include "filters/text/html_to_text.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
}

void list_items(std::string& out, const std::vector<RemovedItem>& items) {
    for (const RemovedItem& r : items) {
        const std::string name =
            r.filename.empty() ? "(名前なし / unnamed, part " + r.path + ")" : r.filename;
        out +=
            "  - " + name + " (" + r.detected_type + ", " + group_thousands(r.size) + " bytes)\n";
        out += "    SHA-256: " + r.sha256 + "\n";
        if (!r.note.empty()) {
            out += "    " + r.note + "\n";
        }
    }
}

/// How a reader sees one CDR finding: a label, and whether it was a change (not a removal).
struct Finding {
    std::string_view label;
    bool change = false;
};

/// A reader's name for what a CDR engine removed or changed, from its code ("pdf.javascript";
/// the engine prefix is ignored). Unknown codes are shown as they are.
Finding finding_of(std::string_view kind) {
    static const std::pair<std::string_view, Finding> table[] = {
        {"javascript", {"JavaScript"}},
        {"open_action", {"開いたときの動作 / open actions"}},
        {"launch", {"プログラム起動 / program launch"}},
        {"submit_form", {"フォーム操作 / form actions"}},
        {"reset_form", {"フォーム操作 / form actions"}},
        {"import_data", {"フォーム操作 / form actions"}},
        {"embedded_file", {"埋め込みファイル / embedded files"}},
        {"portfolio", {"埋め込みファイル / embedded files"}},
        {"embedded_goto", {"埋め込みファイル / embedded files"}},
        {"uri", {"リンク / links"}},
        {"hyperlink", {"リンク / links"}},
        {"remote_goto", {"外部参照 / external references"}},
        {"external_link", {"外部参照 / external references"}},
        {"external_relationship", {"外部参照 / external references"}},
        {"external_image", {"外部参照 / external references"}},
        {"remote_image", {"外部参照 / external references"}},
        {"external_field", {"外部参照 / external references"}},
        {"external_formula", {"外部参照 / external references"}},
        {"linked_object", {"外部参照 / external references"}},
        {"data_connection", {"外部参照 / external references"}},
        {"web_capture", {"外部参照 / external references"}},
        {"alt_chunk", {"外部参照 / external references"}},
        {"web_extension", {"外部参照 / external references"}},
        {"mail_merge", {"外部参照 / external references"}},
        {"attached_template", {"外部テンプレート / external templates"}},
        {"template", {"外部テンプレート / external templates"}},
        {"xfa", {"XFA フォーム / XFA forms"}},
        {"rich_media", {"マルチメディア / multimedia"}},
        {"multimedia", {"マルチメディア / multimedia"}},
        {"3d", {"マルチメディア / multimedia"}},
        {"action", {"その他の動作 / other actions"}},
        {"named_action", {"その他の動作 / other actions"}},
        {"hide", {"その他の動作 / other actions"}},
        {"set_ocg_state", {"その他の動作 / other actions"}},
        {"vba_project", {"マクロ / macros"}},
        {"macro", {"マクロ / macros"}},
        {"xlm_macro", {"マクロ / macros"}},
        {"macro_binding", {"マクロ / macros"}},
        {"macro_field", {"マクロ / macros"}},
        {"macro_link", {"マクロ / macros"}},
        {"macro_enabled_part", {"マクロ / macros"}},
        {"script", {"スクリプト / scripts"}},
        {"event_listener", {"スクリプト / scripts"}},
        {"activex", {"ActiveX"}},
        {"ole_object", {"埋め込みオブジェクト / embedded objects"}},
        {"embedded_object", {"埋め込みオブジェクト / embedded objects"}},
        {"embedded_package", {"埋め込みオブジェクト / embedded objects"}},
        {"binary_part", {"埋め込みオブジェクト / embedded objects"}},
        {"dde", {"DDE"}},
        {"dde_field", {"DDE"}},
        {"dde_link", {"DDE"}},
        {"custom_ui", {"リボン拡張 / ribbon extensions"}},
        {"ui_configuration", {"リボン拡張 / ribbon extensions"}},
        {"signature", {"電子署名（内容の変更で無効）/ signatures (invalid after the rebuild)"}},
        {"printer_settings", {"プリンター設定 / printer settings"}},
        {"orphan_part", {"参照されない部品 / unreferenced parts"}},
        {"dangling_relationship", {"参照されない部品 / unreferenced parts"}},
        {"auto_reload", {"自動更新 / auto reload"}},
        {"metadata", {"メタデータ / metadata"}},
        {"trailing_data", {"画像の後ろのデータ / data after the image"}},
        {"frames_dropped", {"2 枚目以降のコマ / further frames"}},
        {"member_dropped", {"圧縮ファイル内のファイル / files in the archive"}},
        {"comment", {"コメント / comments"}},
        {"control_chars", {"制御文字 / control characters"}},
        {"undecodable", {"読めない文字 / undecodable bytes"}},
        {"macro_enabled_type", {"マクロなしの形式に変更 / macro-free type", true}},
        {"content_types_rewritten", {"内部構成の修正 / package structure fixed", true}},
        {"encryption", {"暗号化の解除 / encryption removed", true}},
        {"repaired", {"破損の修復 / repaired", true}},
        {"flattened", {"全ページを画像化 / pages rendered to images", true}},
        {"converted", {"形式の変換 / format converted", true}},
        {"reencoded", {"UTF-8 に変換 / re-encoded to UTF-8", true}},
        {"bom_added", {"BOM を付加 / BOM added", true}},
    };
    const auto dot = kind.find('.');
    const std::string_view code = dot == std::string_view::npos ? kind : kind.substr(dot + 1);
    for (const auto& [key, finding] : table) {
        if (code == key) {
            return finding;
        }
    }
    return Finding{kind, false};
}

void list_rebuilt(std::string& out, const std::vector<RebuiltItem>& items, bool defang) {
    for (const RebuiltItem& r : items) {
        out += "  - " + (r.filename.empty() ? std::string("(名前なし / unnamed)") : r.filename);
        if (!r.new_filename.empty()) {
            out += " → " + r.new_filename;
        }
        out += " (" + r.engine + ", " + group_thousands(r.size) + " bytes)\n";
        // Counts per label, in order of first appearance; removals and changes apart.
        std::vector<std::pair<std::string, std::size_t>> removed_counts;
        std::vector<std::pair<std::string, std::size_t>> changed_counts;
        std::vector<std::string> urls;
        std::vector<std::string> members;
        for (const auto& x : r.removed) {
            const Finding f = finding_of(x.kind);
            auto& counts = f.change ? changed_counts : removed_counts;
            auto it = std::find_if(counts.begin(), counts.end(),
                                   [&](const auto& c) { return c.first == f.label; });
            if (it == counts.end()) {
                counts.emplace_back(std::string(f.label), 1);
            } else {
                ++it->second;
            }
            // Only the targets of links the reader saw in the document; templates, external
            // data and other references are in the audit, not offered to the reader.
            const std::string_view code = std::string_view(x.kind).substr(x.kind.find('.') + 1);
            if (!x.url.empty() && (code == "uri" || code == "hyperlink") &&
                std::find(urls.begin(), urls.end(), x.url) == urls.end()) {
                urls.push_back(x.url);
                if (defang) {
                    filters::text::defang_links(urls.back());
                }
            }
            if (x.kind == "archive.member_dropped" && !x.location.empty()) {
                members.push_back(x.location);
            }
        }
        auto line_of = [](const std::vector<std::pair<std::string, std::size_t>>& counts) {
            std::string line;
            for (const auto& [label, n] : counts) {
                line += (line.empty() ? "" : ", ") + label + " " + std::to_string(n);
            }
            return line;
        };
        if (removed_counts.empty()) {
            out += "    除去したものはありません / nothing had to be removed\n";
        } else {
            out += "    除去 / removed: " + line_of(removed_counts) + "\n";
        }
        if (!changed_counts.empty()) {
            out += "    変更 / changed: " + line_of(changed_counts) + "\n";
        }
        for (std::size_t i = 0; i < members.size() && i < 10; ++i) {
            out += "    除いたファイル / file removed: " + members[i] + "\n";
        }
        if (members.size() > 10) {
            out += "    (+" + std::to_string(members.size() - 10) + ")\n";
        }
        for (std::size_t i = 0; i < urls.size() && i < 20; ++i) {
            out += "    リンク先（文字のみ）/ link target, as text: " + urls[i] + "\n";
        }
        if (urls.size() > 20) {
            out += "    (+" + std::to_string(urls.size() - 20) + ")\n";
        }
    }
}

} // namespace

std::string render_notice(const Config& config, const NoticeFacts& f) {
    std::string changes;
    if (f.html_converted) {
        changes +=
            "・HTML形式の本文をテキストに変換しました。/ The HTML body was converted to plain "
            "text.\n";
        const auto& c = f.html_counts;
        std::string what;
        auto add = [&](std::size_t n, std::string_view ja, std::string_view en) {
            if (n == 0) {
                return;
            }
            if (!what.empty()) {
                what += ", ";
            }
            what += std::string(ja) + " " + std::to_string(n) + " / " + std::string(en) + " " +
                    std::to_string(n);
        };
        add(c.scripts, "スクリプト", "scripts");
        add(c.forms, "フォーム", "forms");
        add(c.iframes, "埋め込みフレーム", "frames");
        add(c.objects, "埋め込みオブジェクト", "objects");
        add(c.remote_images, "外部画像", "remote images");
        add(c.hidden, "非表示の要素", "hidden elements");
        if (!what.empty()) {
            changes += "  除去 / removed: " + what + "\n";
        }
        if (c.links > 0) {
            changes += "  リンク " + std::to_string(c.links) +
                       " 件は URL を文字で示しています（クリックする前に確認してください）。/ " +
                       std::to_string(c.links) +
                       " links are shown as text: check each URL before you open it.\n";
        }
    }
    if (f.html_counts.mismatched_links > 0) {
        const std::string n = std::to_string(f.html_counts.mismatched_links);
        changes += "・【注意】表示された文字とは異なる宛先を指すリンクが " + n +
                   " 件あります（なりすましの疑い）。/ Warning: " + n +
                   " links lead somewhere other than their text says (possible phishing).\n";
    }
    if (f.charset_fixed) {
        changes +=
            "・本文の文字コード表示が誤っていたため、内容から判定して読みました。/ The body's "
            "charset label was wrong; it was read by its content.\n";
    }
    if (f.inline_removed > 0) {
        changes += "・本文中の画像 " + std::to_string(f.inline_removed) + " 件を削除しました。/ " +
                   std::to_string(f.inline_removed) + " inline images were removed.\n";
    }
    if (!f.removed.empty()) {
        changes += "・添付ファイル " + std::to_string(f.removed.size()) + " 件を削除しました。/ " +
                   std::to_string(f.removed.size()) + " attachments were removed:\n";
        list_items(changes, f.removed);
    }
    if (!f.rebuilt.empty()) {
        changes += "・添付ファイル " + std::to_string(f.rebuilt.size()) +
                   " 件を無害化（再構成）して添付しています。/ " +
                   std::to_string(f.rebuilt.size()) +
                   " attachments were rebuilt without their active content (CDR):\n";
        list_rebuilt(changes, f.rebuilt, config.defang_links);
    }
    if (!f.kept.empty()) {
        changes += "・次の添付ファイルは規則により変更せずに渡しています。/ These attachments "
                   "were passed unchanged by rule:\n";
        list_items(changes, f.kept);
    }
    if (changes.empty()) {
        changes = "・本文をテキストとして再構成しました。/ The body was rebuilt as plain text.\n";
    }
    std::string text = config.notice.template_text;
    // TOML multi-line strings keep the first line break after the quotes only when it is not
    // directly after them; normalise both ends.
    while (!text.empty() && text.front() == '\n') {
        text.erase(0, 1);
    }
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    if (!changes.empty() && changes.back() == '\n') {
        changes.pop_back();
    }
    replace_all(text, "{contact}", config.notice.contact);
    replace_all(text, "{audit_id}", f.audit_id);
    replace_all(text, "{changes}", changes);
    return text + "\n";
}

} // namespace mugaika::gateway
