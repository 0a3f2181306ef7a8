# Momentum: `make run` serves the demo, `make test` runs every test. Both install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# What the PostgreSQL pass leaves out: files that never touch the configured database (the scale tests run their
# servers on SQLite files of their own) and the two-process rate-limit test (SQLite files and Redis of its own).
PG_ONLY_ARGS := --ignore=tests/test_rooms_scale.py --ignore=tests/test_recurrence.py \
	--ignore=tests/test_translations.py --ignore=tests/test_vendor_assets.py \
	--deselect=tests/test_security.py::test_the_eleventh_failed_login_gets_429_across_two_processes_sharing_redis

.PHONY: run test install translations chromium vendor extract-messages bench screenshots clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

translations: install
	$(VENV)/bin/pybabel compile -d app/translations > /dev/null

run: install translations
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	BASE_URL=$${BASE_URL:-http://$(HOST):$(PORT)} $(FLASK) run --host $(HOST) --port $(PORT) --with-threads

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install translations chromium
	PG_ONLY_ARGS="$(PG_ONLY_ARGS)" scripts/run_tests.sh $(PY) $(PYTEST_ARGS)

extract-messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 \
		-o app/translations/messages.pot --no-location --sort-output --project Momentum --version 0.1.0 .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete
	@$(PY) -c "import glob; from babel.messages.pofile import read_po; \
		[print(f'{len(todo)} message(s) to translate in {p}', *(f'  {i!r}' for i in todo), sep='\n') \
		 for p in sorted(glob.glob('app/translations/*/LC_MESSAGES/messages.po')) \
		 for todo in [[m.id for m in read_po(open(p, 'rb')) if m.id and (m.fuzzy or not all(m.string if m.pluralizable else [m.string]))]]]"

vendor:
	python3 scripts/vendor_assets.py

screenshots: install translations chromium
	$(PY) scripts/screenshots.py

bench: install
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) instance/momentum.db*
