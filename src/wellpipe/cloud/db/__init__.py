"""Storage: tables, the async engine, migrations. The only SQLAlchemy code in the cloud."""

from wellpipe.cloud.db.engine import Database
from wellpipe.cloud.db.migrate import upgrade_to_head

__all__ = ["Database", "upgrade_to_head"]
