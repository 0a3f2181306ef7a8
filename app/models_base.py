"""Column helpers shared by every domain's models."""

from datetime import datetime, timezone

from sqlalchemy import DateTime, Enum, TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def string_enum(cls, name: str, length: int = 30) -> Enum:
    """An enum stored as its values in a plain string column (no database enum type to migrate)."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], native_enum=False, length=length)


def ends_the_transaction(session) -> bool:
    """For after_commit and after_rollback listeners: SQLAlchemy calls them for a savepoint (begin_nested) as well,
    whose release commits nothing and whose rollback undoes only what was done inside it."""
    return not session.in_nested_transaction()
