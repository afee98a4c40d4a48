"""cityops — city operation management and service platform (城市运行管理服务平台)."""

__version__ = "0.1.0"
