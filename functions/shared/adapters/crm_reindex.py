"""Write the CRM's contact lookup items for contacts stored before ``find_contacts`` existed.

``DynamoDbCrm.put_contact`` keeps a contact's lookup items (company, name, email domain) current,
but profiles written by an older version have none, so ``find_contacts`` would not see them: a
referral would miss a duplicate at the same company. Run this once after upgrading a deployed
stack (it scans the table, so not from a step):

    python -m functions.shared.adapters.crm_reindex --table <CrmTable physical name>

It uses the ambient AWS credentials and region, and is safe to run again or while the workflows
run (see ``DynamoDbCrm.reindex_lookups``).
"""

from __future__ import annotations

import argparse
import sys

from functions.shared.adapters.dynamodb_crm import DynamoDbCrm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m functions.shared.adapters.crm_reindex", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--table", required=True, help="the CRM table's physical name (stack output or console)"
    )
    args = parser.parse_args(argv)
    written = DynamoDbCrm(args.table).reindex_lookups()
    print(f"{args.table}: lookup items written for {written} contact(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
