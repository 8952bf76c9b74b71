from services.common.alembic_env import run
from services.payment_tee.core.tables import metadata

run(metadata)
