from services.billing.tables import metadata
from services.common.alembic_env import run

run(metadata)
