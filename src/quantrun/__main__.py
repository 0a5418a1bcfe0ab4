from quantrun.launch import run

run()
