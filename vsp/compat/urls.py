"""Routes under /admin-api/ (README "API map"); anything else there is a 404 envelope."""

from django.urls import path, re_path

from vsp.compat import alarms, notify, profile, system
from vsp.compat.base import UnknownPathView

urlpatterns = [
    path("system/auth/login", system.LoginView.as_view()),
    path("system/auth/refresh-token", system.RefreshTokenView.as_view()),
    path("system/auth/logout", system.LogoutView.as_view()),
    path("system/auth/get-permission-info", system.PermissionInfoView.as_view()),
    path("system/tenant/get-by-website", system.TenantByWebsiteView.as_view()),
    path("system/tenant/get-id-by-name", system.TenantIdByNameView.as_view()),
    path("system/dict-data/simple-list", system.DictDataSimpleListView.as_view()),
    path("system/dict-data/list-all-simple", system.DictDataSimpleListView.as_view()),
    path("system/notify-message/get-unread-count", notify.UnreadCountView.as_view()),
    path("system/notify-message/get-unread-list", notify.UnreadListView.as_view()),
    path("system/notify-message/my-page", notify.MyPageView.as_view()),
    path("system/notify-message/update-read", notify.UpdateReadView.as_view()),
    path("system/notify-message/update-all-read", notify.UpdateAllReadView.as_view()),
    path("system/user/profile/get", profile.ProfileGetView.as_view()),
    path("system/user/profile/update", profile.ProfileUpdateView.as_view()),
    path("system/user/profile/update-password", profile.PasswordUpdateView.as_view()),
    path("system/social-user/get-bind-list", profile.SocialBindListView.as_view()),
    path("aiot/alarm/event/page", alarms.AlarmPageView.as_view()),
    path("aiot/alarm/event/get", alarms.AlarmGetView.as_view()),
    path("aiot/alarm/event/handle", alarms.AlarmHandleView.as_view()),
    path("aiot/alarm/event/batch-handle", alarms.AlarmBatchHandleView.as_view()),
    path("aiot/alarm/event/statistics", alarms.AlarmStatisticsView.as_view()),
    path("aiot/alarm/event/analyze", alarms.AlarmAnalyzeView.as_view()),
    path("aiot/alarm/event/export-excel", alarms.AlarmExportView.as_view()),
    path("aiot/edge/device/page", alarms.DevicePageView.as_view()),
    path("aiot/edge/device/get", alarms.DeviceGetView.as_view()),
    re_path(r"^.*$", UnknownPathView.as_view()),
]
