"""Merge Chinese translations into the zh_CN catalogue.

Usage: python scripts/i18n_fill.py translations.json   (a {"English msgid": "中文"} object)
       python scripts/i18n_fill.py --missing           (list msgids still untranslated)
Run `make messages` first so the catalogue has the new msgids.
"""
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "civic/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def main(argv):
    with open(PO, "rb") as f:
        catalog = read_po(f)
    if argv[:1] == ["--missing"]:
        for message in catalog:
            if message.id and not message.string:
                print(json.dumps(message.id, ensure_ascii=False))
        return 0
    mapping = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    changed = 0
    for message in catalog:
        if message.id in mapping:
            message.string = mapping[message.id]
            message.flags.discard("fuzzy")
            changed += 1
    with open(PO, "wb") as f:
        write_po(f, catalog, width=120, omit_header=False)
    unknown = set(mapping) - {m.id for m in catalog}
    print(f"{changed} translations written; {len(unknown)} not in the catalogue (run make messages?)")
    for msgid in sorted(unknown):
        print("  not found:", msgid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
