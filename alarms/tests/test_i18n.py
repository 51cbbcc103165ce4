"""The console in Chinese first and English on request; alarm types by their display names; the branding."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from openpyxl import load_workbook

from alarms import alarm_types
from alarms.models import AlarmEvent, AlarmType, Incident
from alarms.tests.factories import make_alarm, make_device
from conftest import make_user
from devices.models import EdgeDevice
from vsp.compat.export import alarm_workbook
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    # The names are kept per process; a test that edits the table must not leave its rows cached for the next.
    # A request leaves its language active on the thread: the next test starts from the default again.
    alarm_types.forget()
    yield
    alarm_types.forget()
    translation.deactivate()


@pytest.fixture
def boss(admin_user_obj: User) -> Client:
    client = Client()
    client.force_login(admin_user_obj)
    return client


def catalog() -> list[tuple[str | None, str, str, bool]]:
    """(context, msgid, msgstr, fuzzy) of every entry of our Chinese catalog, the header left out."""
    entries = []
    for block in PO_FILE.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            # A plural entry's one Chinese form is its msgstr[0] (Plural-Forms: nplurals=1).
            if match := re.match(r'^(msgctxt|msgid|msgstr)(?:\[0\])? (".*")$', line):
                current = match.group(1)
                fields[current] = _unquote(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += _unquote(line)
        if fields.get("msgid"):
            entries.append((fields.get("msgctxt"), fields["msgid"], fields.get("msgstr", ""), "#, fuzzy" in block))
    return entries


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


class VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside scripts and styles, and the titles and values of buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "pre"):  # <pre>: data shown as it is (ext_data, the model's answer)
            self._hidden += 1
        values = dict(attrs)
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "pre"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


# English that may stay in a Chinese page: names, units, keys, the data the tests made, and the language's own name.
# MTTA and MTTR are the metrics' names in Chinese ops too; their titles spell them out in Chinese.
ALLOWED_ENGLISH = re.compile(
    r"^(VSP|LLM|AI|IP|ID|ms|token|English|Esc|DEVICE_OFFLINE_AFTER|alarm_type|NEW|CONFIRMED|RESOLVED|IGNORED|HANDLED"
    r"|MTTA|MTTR|MTTA/MTTR"
    r"|boss|cam-0\d|TYPE-\d|no_helmet|climbing|intrusion|leave_post|smoke|fire|loitering|crowd|qwen-vl"
    r"|UTC|Asia/Shanghai)$"
)
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}(?:[-/][A-Za-z0-9_]+)*")


def untranslated(html: str) -> list[str]:
    """Visible texts with an English word no translation accounts for (ids, codes and the test's data aside)."""
    return [
        text
        for text in visible_texts(html)
        if any(not ALLOWED_ENGLISH.match(word) for word in ENGLISH_WORD.findall(text))
        and not re.fullmatch(r"[\w:.\-]+", text.replace(" ", ""), re.ASCII)  # an id or a code on its own
    ]


def console_pages() -> list[str]:
    make_device("cam-01", name="东门")
    alarm = make_alarm(alarm_id="TYPE-1", alarm_type="no_helmet", ext_data={"bbox": [1, 2, 3, 4]})
    device = EdgeDevice.objects.get(pk="cam-01")
    now = timezone.now()
    incident = Incident.objects.create(
        device_id="cam-01",
        alarm_type="no_helmet",
        first_time=now,
        last_time=now,
        highest_level=1,
        created_at=now,
        updated_at=now,
    )
    AlarmEvent.objects.filter(pk=alarm.pk).update(incident=incident)
    return [
        "/admin/",
        "/admin/alarms/alarmevent/",
        f"/admin/alarms/alarmevent/{alarm.pk}/change/",
        "/admin/alarms/alarmtype/",
        "/admin/alarms/incident/",
        f"/admin/alarms/incident/{incident.pk}/change/",
        "/admin/devices/edgedevice/",
        f"/admin/devices/edgedevice/{device.pk}/change/",
        "/admin/devices/devicekey/",
        "/admin/analysis/alarmllmanalysis/",
        "/admin/analysis/alarmllmanalysis/agreement/",
        "/admin/analysis/analysisrule/",
        "/admin/analysis/analysisrule/add/",
        "/live/",
        "/dashboard/",
    ]


# --- the catalog ------------------------------------------------------------------------------


def test_every_string_of_ours_has_a_chinese_translation() -> None:
    entries = catalog()
    assert len(entries) > 150
    assert [msgid for _, msgid, msgstr, fuzzy in entries if not msgstr or fuzzy] == []


def test_the_catalog_holds_every_string_the_code_marks(tmp_path: Path) -> None:
    """A string wrapped in _() or {% translate %} but missing from django.po is caught here, not on a page."""
    source = Path(settings.BASE_DIR)
    marked = set()
    for path in [
        *source.glob("*/*.py"),
        *source.glob("*/templates/**/*.html"),
        *source.glob("vsp/templates/**/*.html"),
    ]:
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        marked |= set(re.findall(r'(?<![\w.])_\("((?:[^"\\]|\\.)+)"\)', text))
        marked |= set(re.findall(r'{% translate "([^"]+)"', text))
        marked |= set(re.findall(r"{% translate '([^']+)'", text))
    known = {msgid for _, msgid, _, _ in catalog()}
    assert sorted(marked - known) == []


def test_labels_of_fields_named_after_their_attribute_keep_that_english() -> None:
    """``label_fields`` only makes a label translatable: in English it is the name Django derived."""
    ours = {"alarms", "devices", "analysis", "notifications", "edge", "vsp"}
    models = [model for model in apps.get_models() if model._meta.app_label in ours]
    assert len(models) > 15
    with translation.override("en"):
        for model in models:
            for field in model._meta.fields:
                if getattr(field, "_verbose_name", None) is None and not field.auto_created:
                    assert str(field.verbose_name) == field.name.replace("_", " "), (model, field.name)
        assert str(AlarmEvent._meta.verbose_name_plural) == "alarm events"
    with translation.override("zh-hans"):
        assert str(AlarmEvent._meta.get_field("event_time").verbose_name) == "告警时间"


def test_the_wrapping_changes_no_migration_state() -> None:
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


# --- Chinese first -----------------------------------------------------------------------------


def test_the_console_is_chinese_by_default_with_no_english_left(boss: Client) -> None:
    for page in console_pages():
        # Browsers say what they were installed in; the console is Chinese until the user picks English.
        response = boss.get(page, headers={"accept-language": "en-US,en;q=0.9"})
        assert response.status_code == 200, page
        html = response.content.decode()
        assert '<html lang="zh-hans"' in html, page
        assert untranslated(html) == [], page


def test_known_english_labels_of_ours_do_not_appear_in_chinese(boss: Client) -> None:
    pages = "".join(boss.get(page).content.decode() for page in console_pages())
    texts = set(visible_texts(pages))
    ours = {msgid for _, msgid, _, _ in catalog() if len(msgid) > 3 and "%" not in msgid}
    assert sorted(text for text in texts if text in ours or text.rstrip(":") in ours) == []
    for chinese in ("告警时间", "处理状态", "告警级别", "边缘设备", "处理记录", "告警类型", "签发新密钥（仅显示一次）"):
        assert chinese in pages, chinese


def test_the_assign_page_and_the_triage_messages_are_chinese(boss: Client) -> None:
    make_alarm(alarm_id="TYPE-1")
    make_alarm(alarm_id="TYPE-2")
    selected = {"_selected_action": ["TYPE-1", "TYPE-2"]}

    page = boss.post("/admin/alarms/alarmevent/", {"action": "assign_alarms", **selected})
    html = page.content.decode()
    assert untranslated(html) == []
    assert "将 2 条告警指派给：" in html
    assert "（无人）" in html

    done = boss.post("/admin/alarms/alarmevent/", {"action": "ignore_alarms", **selected}, follow=True)
    assert [str(message) for message in done.context["messages"]] == ["已更新：2 条（TYPE-1, TYPE-2）"]


def test_the_alarm_choices_read_in_chinese(boss: Client) -> None:
    make_alarm(alarm_id="TYPE-1", alarm_level=1)
    page = boss.get("/admin/alarms/alarmevent/").content.decode()
    assert "一级（紧急）" in page
    assert "新告警" in page
    assert "未处理" in page


# --- English on request ------------------------------------------------------------------------


def test_the_language_picker_switches_the_console_to_english_and_back(boss: Client) -> None:
    make_alarm(alarm_id="TYPE-1", alarm_type="no_helmet")
    index = boss.get("/admin/").content.decode()
    assert 'action="/i18n/setlang/"' in index
    assert '<option value="en" lang="en">English</option>' in index

    response = boss.post("/i18n/setlang/", {"language": "en", "next": "/admin/alarms/alarmevent/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/alarms/alarmevent/"
    page = boss.get("/admin/alarms/alarmevent/")
    html = page.content.decode()
    assert page["Content-Language"] == "en"
    assert '<html lang="en"' in html
    assert "Event time" in html
    assert "No helmet" in html  # the type's English name
    assert "VSP video alarm platform" in html

    boss.post("/i18n/setlang/", {"language": "zh-hans", "next": "/admin/"})
    assert "告警时间" in boss.get("/admin/alarms/alarmevent/").content.decode()


def test_a_stale_language_cookie_falls_back_to_chinese(boss: Client) -> None:
    boss.cookies[settings.LANGUAGE_COOKIE_NAME] = "klingon"
    assert '<html lang="zh-hans"' in boss.get("/admin/").content.decode()


def test_the_apis_and_the_edge_stay_english_whatever_the_client_asks(boss: Client, client: Client) -> None:
    chinese = {"accept-language": "zh-CN,zh;q=0.9"}
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    refused = client.get("/api/v1/alerts/", headers=chinese)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Authentication credentials were not provided."}
    assert "Content-Language" not in refused

    report = client.post("/api/ai/alert/edge/report", {}, content_type="application/json", headers=chinese)
    assert report.status_code == 400
    assert "This field is required." in str(report.json()["data"]["errors"])

    # After a Chinese admin page on the same thread, too.
    boss.get("/admin/")
    assert client.get("/api/v1/alerts/", headers=chinese).json()["detail"] == (
        "Authentication credentials were not provided."
    )


# --- alarm types by their names ----------------------------------------------------------------


def test_the_migration_seeds_todays_types() -> None:
    rows = list(AlarmType.objects.values_list("code", "name_zh", "name_en"))
    assert rows == [
        ("intrusion", "区域入侵", "Intrusion"),
        ("leave_post", "离岗", "Left post"),
        ("no_helmet", "未戴安全帽", "No helmet"),
        ("smoke", "烟雾", "Smoke"),
        ("fire", "明火", "Open fire"),
        ("loitering", "徘徊", "Loitering"),
        ("crowd", "人员聚集", "Crowd"),
    ]
    # The same as the defaults put back into an emptied table.
    assert rows == [(code, name_zh, name_en) for code, name_zh, name_en, _ in alarm_types.DEFAULT_TYPES]


def test_an_emptied_table_gets_todays_types_back_after_migrate_but_a_kept_one_is_left_alone() -> None:
    AlarmType.objects.all().delete()  # as flush does between the tests that commit
    alarm_types.seed_defaults(using="default")
    assert AlarmType.objects.count() == len(alarm_types.DEFAULT_TYPES)
    assert alarm_types.display_name("fire", "zh-hans") == "明火"

    AlarmType.objects.exclude(code="fire").delete()
    alarm_types.seed_defaults(using="default")
    assert list(AlarmType.objects.values_list("code", flat=True)) == ["fire"]


def test_the_alarm_admin_shows_type_names_and_filters_by_them(boss: Client) -> None:
    make_alarm(alarm_id="TYPE-1", alarm_type="no_helmet")
    make_alarm(alarm_id="TYPE-2", alarm_type="climbing")

    page = boss.get("/admin/alarms/alarmevent/").content.decode()
    assert '<td class="field-type_name">未戴安全帽</td>' in page
    assert '<td class="field-type_name">climbing</td>' in page  # unknown codes show as the code
    assert 'href="?alarm_type=no_helmet"' in page
    assert ">未戴安全帽</a>" in page  # the filter's choice

    filtered = boss.get("/admin/alarms/alarmevent/?alarm_type=no_helmet").content.decode()
    assert ">TYPE-1<" in filtered
    assert ">TYPE-2<" not in filtered

    detail = boss.get("/admin/alarms/alarmevent/TYPE-1/change/").content.decode()
    assert "未戴安全帽" in detail
    assert "no_helmet" in detail


def test_a_name_edited_in_admin_shows_at_once(boss: Client) -> None:
    make_alarm(alarm_id="TYPE-1", alarm_type="no_helmet")
    boss.get("/admin/alarms/alarmevent/")  # the names are cached now
    no_helmet = AlarmType.objects.get(code="no_helmet")

    response = boss.post(
        f"/admin/alarms/alarmtype/{no_helmet.pk}/change/",
        {"code": "no_helmet", "name_zh": "未佩戴安全帽", "name_en": "Helmet missing", "colour": "danger", "sort": "3"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert "未佩戴安全帽" in boss.get("/admin/alarms/alarmevent/").content.decode()


def test_the_compat_dictionary_reads_the_table(frontend: Frontend) -> None:
    make_alarm(alarm_type="climbing")
    AlarmType.objects.create(code="climbing", name_zh="攀爬", colour="warning", sort=0)

    entries = frontend.get("/system/dict-data/simple-list").json()["data"]

    types = [(e["value"], e["label"], e["colorType"]) for e in entries if e["dictType"] == "aiot_alarm_type"]
    assert types[:3] == [
        ("climbing", "攀爬", "warning"),
        ("intrusion", "区域入侵", "danger"),
        ("leave_post", "离岗", "warning"),
    ]
    assert ("no_helmet", "未戴安全帽", "warning") in types


@pytest.mark.django_db(transaction=True)
def test_the_names_are_cached_briefly(frontend: Frontend) -> None:
    def label() -> str:
        entries = frontend.get("/system/dict-data/simple-list").json()["data"]
        return next(e["label"] for e in entries if e["dictType"] == "aiot_alarm_type" and e["value"] == "smoke")

    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert label() == "烟雾"
        # Behind the signals' back (another process's edit, say): this process keeps its copy for a while.
        AlarmType.objects.filter(code="smoke").update(name_zh="浓烟")
        assert label() == "烟雾"
    with time_machine.travel(now + timedelta(seconds=settings.ALARM_TYPE_NAMES_TTL + 1), tick=False):
        assert label() == "浓烟"


def test_the_export_names_the_types() -> None:
    make_alarm(alarm_id="TYPE-1", alarm_type="no_helmet")
    make_alarm(alarm_id="TYPE-2", alarm_type="climbing")

    sheet = load_workbook(io.BytesIO(alarm_workbook(AlarmEvent.objects.order_by("alarm_id")))).active
    rows = list(sheet.iter_rows(values_only=True))

    assert rows[0][1] == "告警类型"
    assert [row[1] for row in rows[1:]] == ["未戴安全帽", "climbing"]


def test_the_live_page_gets_the_names_and_its_words_in_the_page_language(boss: Client) -> None:
    page = boss.get("/live/")
    config = page.context["config"]
    assert config["labels"]["aiot_alarm_type"]["no_helmet"] == "未戴安全帽"
    assert config["labels"]["aiot_alarm_level"]["1"] == "一级（紧急）"
    html = page.content.decode()
    # live.js reads its words off the hidden #live-text element's data attributes.
    assert 'data-state-live="实时"' in html
    assert 'data-done-many="已更新 {done}/{total} 条"' in html
    assert "实时告警" in html

    boss.post("/i18n/setlang/", {"language": "en", "next": "/live/"})
    english = boss.get("/live/")
    assert english.context["config"]["labels"]["aiot_alarm_type"]["no_helmet"] == "No helmet"
    assert 'data-state-live="live"' in english.content.decode()


def test_the_dashboard_gets_the_names_and_its_words_in_the_page_language(boss: Client) -> None:
    page = boss.get("/dashboard/")
    assert page.context["config"]["labels"]["aiot_alarm_type"]["no_helmet"] == "未戴安全帽"
    html = page.content.decode()
    # dashboard.js reads its words off the hidden #dash-text element's data attributes.
    assert 'data-state-live="实时"' in html
    assert 'data-minutes-seconds="{minutes} 分 {seconds} 秒"' in html
    assert "每日告警（按级别）" in html

    boss.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = boss.get("/dashboard/")
    assert english.context["config"]["labels"]["aiot_alarm_type"]["no_helmet"] == "No helmet"
    assert 'data-minutes-seconds="{minutes} min {seconds} s"' in english.content.decode()
    assert "Per day, by level" in english.content.decode()


# --- branding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_page_is_branded_never_django(boss: Client, client: Client, language: str) -> None:
    boss.cookies[settings.LANGUAGE_COOKIE_NAME] = client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    header, title = (
        ("VSP 视频告警平台", "VSP 告警控制台")
        if language == "zh-hans"
        else (
            "VSP video alarm platform",
            "VSP alarm console",
        )
    )
    pages = [
        client.get("/admin/login/"),
        boss.get("/admin/"),
        boss.get("/admin/alarms/alarmevent/"),
        boss.get("/live/"),
    ]
    for response in pages:
        html = response.content.decode()
        assert header in html
        assert f"| {title}</title>" in html
        assert '<link rel="icon" type="image/svg+xml" href="/static/vsp/favicon.svg">' in html
        assert "Django" not in html
        assert html.count('<form id="language-picker" action="/i18n/setlang/"') == 1  # the login page's too
        assert "Django 管理" not in html
    assert ("告警控制台" if language == "zh-hans" else "Alarm console") in pages[1].content.decode()


def test_the_favicon_is_a_static_svg() -> None:
    found = finders.find("vsp/favicon.svg")
    assert found is not None
    assert Path(str(found)).read_text().lstrip().startswith("<svg")


@pytest.fixture
def frontend(client: Client) -> Frontend:
    make_user("clerk", perms=("alarms.view_alarmevent",))
    tab = Frontend(client)
    tab.login("clerk")
    return tab
