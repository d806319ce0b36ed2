from pdvault.cli import app

app(prog_name="pdvault")
