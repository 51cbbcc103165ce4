"""The menu tree Yudao's frontend builds its routes from (YUDAO.md §5.4, §11), for this service's pages.

``component`` is a view file of the frontend, relative to ``src/views`` and
without extension; adjust here if the frontend's pages live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DIRECTORY, MENU, BUTTON = 1, 2, 3


@dataclass(frozen=True)
class Menu:
    id: int
    parent_id: int
    name: str
    type: int
    sort: int
    permission: str = ""
    path: str = ""
    component: str | None = None
    component_name: str | None = None
    icon: str = ""
    visible: bool = True
    keep_alive: bool = True
    always_show: bool = True


MENUS: tuple[Menu, ...] = (
    Menu(5000, 0, "AI 告警", DIRECTORY, 10, path="/aiot", icon="ep:bell"),
    Menu(5001, 5000, "告警事件", MENU, 1, "aiot:alarm:query", "alarm-event", "aiot/alarm/event/index",
         "AiotAlarmEvent", "ep:warning"),
    Menu(5011, 5001, "告警处理", BUTTON, 1, "aiot:alarm:handle"),
    Menu(5012, 5001, "告警导出", BUTTON, 2, "aiot:alarm:export"),
    Menu(5013, 5001, "大模型复判", BUTTON, 3, "aiot:alarm:analyze"),
    Menu(5002, 5000, "边缘设备", MENU, 2, "aiot:device:query", "edge-device", "aiot/edge/device/index",
         "AiotEdgeDevice", "ep:monitor"),
)  # fmt: skip


def granted_menus(permissions: set[str]) -> list[Menu]:
    """Menus and buttons the user may see: granted ones whose every ancestor is granted too.

    A menu or button is granted by its permission; a directory (no permission)
    is granted when one of its children is. As in Yudao, a button under a menu
    the user cannot see grants nothing.
    """
    by_id = {menu.id: menu for menu in MENUS}
    own = {menu.id for menu in MENUS if menu.permission and menu.permission in permissions}
    # Directories: present when any descendant is granted by permission.
    for menu in MENUS:
        if menu.id in own:
            parent = by_id.get(menu.parent_id)
            while parent is not None and not parent.permission:
                own.add(parent.id)
                parent = by_id.get(parent.parent_id)

    def reachable(menu: Menu) -> bool:
        while menu.parent_id:
            parent = by_id.get(menu.parent_id)
            if parent is None or parent.id not in own:
                return False
            menu = parent
        return True

    return [menu for menu in MENUS if menu.id in own and reachable(menu)]


def menu_tree(menus: list[Menu]) -> list[dict[str, Any]]:
    """Buttons left out, siblings by ``sort``, leaves with ``children: null``."""
    nodes: dict[int, dict[str, Any]] = {
        menu.id: {
            "id": menu.id,
            "parentId": menu.parent_id,
            "name": menu.name,
            "path": menu.path,
            "component": menu.component,
            "componentName": menu.component_name,
            "icon": menu.icon,
            "visible": menu.visible,
            "keepAlive": menu.keep_alive,
            "alwaysShow": menu.always_show,
            "children": None,
        }
        for menu in sorted(menus, key=lambda m: m.sort)
        if menu.type != BUTTON
    }
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node["parentId"])
        if node["parentId"] == 0:
            roots.append(node)
        elif parent is not None:
            parent["children"] = [*(parent["children"] or []), node]
    return roots
