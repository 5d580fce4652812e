"""Seed 003's listener check, where the seed runs it: `python3 test/test_listener_status.py [--test-trigger]`.

A thin entry point to scripts/check_listener.py (app and listener up, NOTIFY triggers installed; with
--test-trigger a one-variant job is flipped to img_gen (done) and must move on). Not a pytest module:
test/conftest.py keeps pytest from collecting it.
"""
import sys

from scripts import check_listener

if __name__ == "__main__":
    sys.exit(check_listener.main())
