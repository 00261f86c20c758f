"""Write the shipped sample of docs/client_network.md from experiments/network_sample.py:
docs/examples/client_network.xlsx and the same rows as CSV files in
docs/examples/client_network/. Run it after changing the sample's rows:

    .venv/bin/python scripts/make_sample_workbook.py
"""

from pathlib import Path

from experiments.network_sample import write_sample

HERE = Path(__file__).resolve().parent.parent / "docs" / "examples"

if __name__ == "__main__":
    print(write_sample(HERE / "client_network.xlsx"))
    print(write_sample(HERE / "client_network"))
