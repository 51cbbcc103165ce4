"""Yudao's ``CommonResult`` envelope: always HTTP 200, ``{code, data, msg}``; ``msg`` is ``""`` on success."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response

# Global codes and their messages, as Yudao's GlobalErrorCodeConstants and GlobalExceptionHandler word them.
BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500

MSG_UNAUTHORIZED = "账号未登录"
MSG_FORBIDDEN = "没有该操作权限"
MSG_SERVER_ERROR = "系统异常"
MSG_TOO_MANY_REQUESTS = "请求过于频繁，请稍后重试"
MSG_WRONG_TENANT = "您无权访问该租户的数据"


def bad_request(message: str) -> str:
    return f"请求参数不正确:{message}"


def missing_parameter(name: str) -> str:
    return f"请求参数缺失:{name}"


def type_mismatch(detail: str) -> str:
    return f"请求参数类型错误:{detail}"


def unknown_path(path: str) -> str:
    return f"请求地址不存在:{path}"


def wrong_method(method: str) -> str:
    return f"请求方法不正确:Request method '{method}' is not supported"


# Business errors of this service, in Yudao's range for the IoT module (1-050-xxx-xxx).
LOGIN_FAILED = (1_002_000_000, "登录失败，账号密码不正确")
LOGIN_DISABLED = (1_002_000_001, "登录失败，账号被禁用")
REFRESH_TOKEN_INVALID = (BAD_REQUEST, "无效的刷新令牌")
REFRESH_TOKEN_EXPIRED = (UNAUTHORIZED, "刷新令牌已过期")
ALARM_NOT_FOUND = (1_050_001_000, "告警事件不存在")
ALARM_STATUS_BACKWARDS = (1_050_001_001, "告警状态不能从 {} 回退到 {}")
EXPORT_TOO_LARGE = (1_050_001_002, "导出数据超过 {} 条，请缩小筛选范围")
ANALYSIS_OFF = (1_050_002_000, "未配置大模型（AI_MODEL_NAME），无法复判")
ANALYSIS_NO_SNAPSHOT = (1_050_002_001, "告警没有抓拍图片，无法复判")


class CompatError(Exception):
    """An error answered in the envelope: ``raise CompatError(code, msg)``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg

    @classmethod
    def of(cls, error: tuple[int, str], *args: object) -> CompatError:
        code, template = error
        return cls(code, template.format(*args) if args else template)


def success(data: Any) -> Response:
    return Response({"code": 0, "data": data, "msg": ""})


def failure(code: int, msg: str) -> Response:
    return Response({"code": code, "data": None, "msg": msg})
