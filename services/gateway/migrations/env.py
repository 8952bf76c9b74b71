from services.common.alembic_env import run
from services.gateway.tables import metadata

run(metadata)
